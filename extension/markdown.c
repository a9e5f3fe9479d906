/*-------------------------------------------------------------------------
 *
 * markdown.c
 *	  Markdown (CommonMark) to HTML for blog posts, with libcmark.
 *
 * workon.markdown_html(text) renders with CMARK_OPT_SAFE: raw HTML, inline
 * or in blocks, is left out (cmark writes "<!-- raw HTML omitted -->").
 * cmark's safe mode drops javascript:, vbscript: and file: URLs but lets
 * data:image/... through; here every link and image whose URL has the
 * scheme javascript, vbscript, file or data (case-insensitive, whitespace
 * and control characters ignored as browsers ignore them) loses its URL
 * before rendering, so none of them reaches the HTML.
 *
 * Posts are rendered when they are written and the HTML stored, so reads
 * never render.
 *
 * extension/markdown.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <cmark.h>

#include "fmgr.h"
#include "utils/builtins.h"

#include "workon.h"

/* The schemes no link or image of a post may have */
static const char *const unsafe_schemes[] = {"javascript", "vbscript", "file", "data"};

/*
 * True when the URL's scheme is one of unsafe_schemes.  Browsers skip
 * leading spaces and control characters and tabs or newlines inside the
 * scheme, so they are skipped here too.
 */
static bool
url_unsafe(const char *url)
{
	char		scheme[16];
	int			n = 0;
	const unsigned char *p = (const unsigned char *) url;

	if (url == NULL)
		return false;
	while (*p != '\0' && *p <= ' ')
		p++;
	for (; *p != '\0' && *p != ':'; p++)
	{
		if (*p == '\t' || *p == '\n' || *p == '\r')
			continue;
		if (n == (int) sizeof(scheme) - 1)
			return false;		/* longer than any scheme we look for */
		scheme[n++] = (char) pg_ascii_tolower(*p);
	}
	if (*p != ':')
		return false;			/* no scheme: a relative URL */
	scheme[n] = '\0';
	for (int i = 0; i < (int) lengthof(unsafe_schemes); i++)
		if (strcmp(scheme, unsafe_schemes[i]) == 0)
			return true;
	return false;
}

PG_FUNCTION_INFO_V1(markdown_html);

Datum
markdown_html(PG_FUNCTION_ARGS)
{
	text	   *src = PG_GETARG_TEXT_PP(0);
	cmark_node *doc;
	cmark_iter *iter;
	cmark_event_type ev;
	char	   *html;
	text	   *result;

	doc = cmark_parse_document(VARDATA_ANY(src), VARSIZE_ANY_EXHDR(src),
							   CMARK_OPT_SAFE | CMARK_OPT_VALIDATE_UTF8);
	if (doc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while rendering Markdown")));

	iter = cmark_iter_new(doc);
	while ((ev = cmark_iter_next(iter)) != CMARK_EVENT_DONE)
	{
		cmark_node *node = cmark_iter_get_node(iter);
		cmark_node_type type = cmark_node_get_type(node);

		if (ev == CMARK_EVENT_ENTER
			&& (type == CMARK_NODE_LINK || type == CMARK_NODE_IMAGE)
			&& url_unsafe(cmark_node_get_url(node)))
			cmark_node_set_url(node, "");
	}
	cmark_iter_free(iter);

	html = cmark_render_html(doc, CMARK_OPT_SAFE);
	cmark_node_free(doc);
	if (html == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while rendering Markdown")));
	result = cstring_to_text(html);
	free(html);					/* cmark's default allocator is malloc */
	PG_RETURN_TEXT_P(result);
}
