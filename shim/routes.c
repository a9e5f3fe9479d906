/*
 * The route table (loaded from workon.routes) as a tree of path segments, and
 * the SQLSTATE -> HTTP status map (workon.errors).
 *
 * Matching: a template segment `{name}` matches one non-empty segment; other
 * segments match literally after percent-decoding.  Literal segments win over
 * params (`/spaces/mine` before `/spaces/{id}`).  Empty segments never match a
 * param, so `/api/v1/spaces/` (trailing slash) and `//` are not found.
 */
#include "shim.h"
#include <stdlib.h>
#include <string.h>

typedef struct st_route_node_t route_node_t;

struct st_route_node_t {
    char *literal;
    size_t literal_len;
    route_node_t **children;
    size_t num_children;
    route_node_t *param_child;
    const route_t **routes; /* routes whose template ends here, one per method */
    size_t num_routes;
};

struct st_route_table_t {
    route_node_t root;
    route_t *routes;
    size_t num_routes;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        h2o_fatal("no memory");
    return d;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n == 0 ? 1 : n, sz);
    if (p == NULL)
        h2o_fatal("no memory");
    return p;
}

static void *xrealloc(void *p, size_t sz)
{
    if ((p = realloc(p, sz)) == NULL)
        h2o_fatal("no memory");
    return p;
}

static route_node_t *node_child(route_node_t *node, const char *seg, size_t len)
{
    size_t i;
    route_node_t *child;

    for (i = 0; i != node->num_children; ++i) {
        child = node->children[i];
        if (child->literal_len == len && memcmp(child->literal, seg, len) == 0)
            return child;
    }
    child = xcalloc(1, sizeof(*child));
    child->literal = xcalloc(len + 1, 1);
    memcpy(child->literal, seg, len);
    child->literal_len = len;
    node->children = xrealloc(node->children, sizeof(*node->children) * (node->num_children + 1));
    node->children[node->num_children++] = child;
    return child;
}

static void node_free(route_node_t *node)
{
    size_t i;

    for (i = 0; i != node->num_children; ++i) {
        node_free(node->children[i]);
        free(node->children[i]);
    }
    free(node->children);
    if (node->param_child != NULL) {
        node_free(node->param_child);
        free(node->param_child);
    }
    free(node->literal);
    free(node->routes);
}

/* workon.routes.body and .rate_limit, in the order of BODY_* and RATE_LIMIT_* */
static const char *const body_modes[] = {"none", "json", "raw", "websocket", "bytes", NULL};
static const char *const rate_limits[] = {"default", "auth", "exempt", NULL};
/* workon.routes.lane, in the order of ROUTE_LANE_* */
static const char *const lanes[] = {"fast", "slow", NULL};

/* the index of s in names, 0 (the default) when it is not there */
static int parse_name(const char *s, const char *const *names)
{
    int i;

    for (i = 0; names[i] != NULL; ++i)
        if (strcmp(s, names[i]) == 0)
            return i;
    return 0;
}

/* inserts the route; -1 (with *err) on an unusable template */
static int insert_route(route_table_t *table, route_t *route, const char **err)
{
    route_node_t *node = &table->root;
    const char *p = route->path, *end = p + strlen(p);
    size_t i;

    if (*p != '/') {
        *err = "route path does not start with /";
        return -1;
    }
    ++p;
    for (;;) {
        const char *seg = p, *seg_end = memchr(p, '/', end - p);
        if (seg_end == NULL)
            seg_end = end;
        if (seg_end - seg >= 2 && seg[0] == '{' && seg_end[-1] == '}') {
            if (seg_end - seg == 2) {
                *err = "route path has an empty {} segment";
                return -1;
            }
            route->param_names = xrealloc(route->param_names, sizeof(char *) * (route->num_params + 1));
            route->param_names[route->num_params] = xcalloc(seg_end - seg - 1, 1);
            memcpy(route->param_names[route->num_params], seg + 1, seg_end - seg - 2);
            ++route->num_params;
            if (node->param_child == NULL)
                node->param_child = xcalloc(1, sizeof(route_node_t));
            node = node->param_child;
        } else {
            node = node_child(node, seg, seg_end - seg);
        }
        if (seg_end == end)
            break;
        p = seg_end + 1;
    }
    for (i = 0; i != node->num_routes; ++i) {
        if (strcmp(node->routes[i]->method, route->method) == 0) {
            *err = "two routes share a method and a path shape";
            return -1;
        }
    }
    node->routes = xrealloc(node->routes, sizeof(*node->routes) * (node->num_routes + 1));
    node->routes[node->num_routes++] = route;
    return 0;
}

route_table_t *route_table_build(PGresult *res, const char **err)
{
    route_table_t *table;
    int i, n;

    if (PQnfields(res) != ROUTE_COLUMNS) {
        *err = "unexpected shape of workon.routes";
        return NULL;
    }
    n = PQntuples(res);
    table = xcalloc(1, sizeof(*table));
    table->routes = xcalloc((size_t)n, sizeof(route_t));
    table->num_routes = (size_t)n;
    for (i = 0; i != n; ++i) {
        route_t *r = table->routes + i;
        const char *method = PQgetvalue(res, i, 0);
        size_t j;
        if (strlen(method) == 0 || strlen(method) >= sizeof(r->method)) {
            *err = "route with an unusable method";
            goto Error;
        }
        for (j = 0; method[j] != '\0'; ++j)
            r->method[j] = (char)h2o_toupper(method[j]);
        r->path = xstrdup(PQgetvalue(res, i, 1));
        snprintf(r->handler_oid, sizeof(r->handler_oid), "%s", PQgetvalue(res, i, 2));
        r->auth = xstrdup(PQgetvalue(res, i, 3));
        r->status = PQgetisnull(res, i, 4) ? 200 : atoi(PQgetvalue(res, i, 4));
        if (r->status < 100 || r->status > 599)
            r->status = 200;
        r->body_mode = parse_name(PQgetvalue(res, i, 5), body_modes);
        r->rate_limit = parse_name(PQgetvalue(res, i, 6), rate_limits);
        r->read_only = PQgetvalue(res, i, 7)[0] == 't';
        snprintf(r->outbound, sizeof(r->outbound), "%s", PQgetvalue(res, i, 8));
        r->metrics = metrics_family(PQgetvalue(res, i, 9));
        r->bytes = r->body_mode == BODY_BYTES || PQgetvalue(res, i, 10)[0] == 't';
        r->lane = parse_name(PQgetvalue(res, i, 11), lanes);
        if (insert_route(table, r, err) != 0)
            goto Error;
    }
    return table;

Error:
    route_table_free(table);
    return NULL;
}

void route_table_free(route_table_t *table)
{
    size_t i, j;

    if (table == NULL)
        return;
    node_free(&table->root);
    for (i = 0; i != table->num_routes; ++i) {
        route_t *r = table->routes + i;
        free(r->path);
        free(r->auth);
        for (j = 0; j != r->num_params; ++j)
            free(r->param_names[j]);
        free(r->param_names);
    }
    free(table->routes);
    free(table);
}

size_t route_table_size(route_table_t *table)
{
    return table != NULL ? table->num_routes : 0;
}

/* ------------------------------------------------------------------------ */

int url_decode(char *dst, size_t *dst_len, const char *src, size_t len, int plus_is_space)
{
    static const signed char hex[256] = {
        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
        ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
        ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16};
    const unsigned char *p = (const unsigned char *)src, *end = p + len;
    char *d = dst;

    while (p != end) {
        if (*p == '%') {
            if (end - p < 3 || hex[p[1]] == 0 || hex[p[2]] == 0)
                return -1;
            *d++ = (char)(((hex[p[1]] - 1) << 4) | (hex[p[2]] - 1));
            p += 3;
        } else if (*p == '+' && plus_is_space) {
            *d++ = ' ';
            ++p;
        } else {
            *d++ = (char)*p++;
        }
    }
    *dst_len = d - dst;
    return utf8_valid(dst, *dst_len) ? 0 : -1;
}

typedef struct st_segment_t {
    const char *raw;
    size_t raw_len;
    const char *value; /* decoded; == raw when nothing to decode */
    size_t len;
    int invalid;
} segment_t;

typedef struct st_match_state_t {
    const char *method;
    size_t method_len;
    segment_t *segs;
    size_t num_segs;
    size_t *param_segs; /* stack of segment indexes bound to params */
    const route_t *found;
    size_t *found_params;
    int path_matched;
    const char *allow[16];
    size_t num_allow;
} match_state_t;

static void add_allow(match_state_t *st, const char *method)
{
    size_t i;

    for (i = 0; i != st->num_allow; ++i)
        if (strcmp(st->allow[i], method) == 0)
            return;
    if (st->num_allow != sizeof(st->allow) / sizeof(st->allow[0]))
        st->allow[st->num_allow++] = method;
}

static int match_node(const route_node_t *node, match_state_t *st, size_t seg_index, size_t depth)
{
    size_t i;

    if (seg_index == st->num_segs) {
        if (node->num_routes == 0)
            return 0;
        st->path_matched = 1;
        for (i = 0; i != node->num_routes; ++i) {
            const route_t *r = node->routes[i];
            if (h2o_memis(r->method, strlen(r->method), st->method, st->method_len)) {
                st->found = r;
                memcpy(st->found_params, st->param_segs, sizeof(size_t) * depth);
                return 1;
            }
        }
        for (i = 0; i != node->num_routes; ++i) {
            add_allow(st, node->routes[i]->method);
            if (strcmp(node->routes[i]->method, "GET") == 0)
                add_allow(st, "HEAD");
        }
        return 0;
    }

    segment_t *seg = st->segs + seg_index;
    if (!seg->invalid) {
        for (i = 0; i != node->num_children; ++i) {
            route_node_t *child = node->children[i];
            if (h2o_memis(child->literal, child->literal_len, seg->value, seg->len) && match_node(child, st, seg_index + 1, depth))
                return 1;
        }
    }
    if (node->param_child != NULL && seg->raw_len != 0) {
        st->param_segs[depth] = seg_index;
        if (match_node(node->param_child, st, seg_index + 1, depth + 1))
            return 1;
    }
    return 0;
}

static int compare_cstr(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int route_table_match(route_table_t *table, h2o_mem_pool_t *pool, const char *method, size_t method_len, const char *path,
                      size_t path_len, route_match_t *match)
{
    match_state_t st;
    size_t num_segs = 0, i;
    const char *p, *end = path + path_len;

    memset(match, 0, sizeof(*match));
    if (path_len == 0 || path[0] != '/')
        return ROUTE_NO_PATH;

    for (p = path; p != end; ++p)
        if (*p == '/')
            ++num_segs;

    memset(&st, 0, sizeof(st));
    /* every GET route answers HEAD: the GET runs, and only its headers are sent */
    if (h2o_memis(method, method_len, H2O_STRLIT("HEAD"))) {
        method = "GET";
        method_len = 3;
    }
    st.method = method;
    st.method_len = method_len;
    st.segs = h2o_mem_alloc_pool(pool, sizeof(segment_t) * num_segs);
    st.param_segs = h2o_mem_alloc_pool(pool, sizeof(size_t) * num_segs);
    st.found_params = h2o_mem_alloc_pool(pool, sizeof(size_t) * num_segs);
    st.num_segs = num_segs;

    p = path + 1;
    for (i = 0; i != num_segs; ++i) {
        segment_t *seg = st.segs + i;
        const char *seg_end = memchr(p, '/', end - p);
        if (seg_end == NULL)
            seg_end = end;
        seg->raw = p;
        seg->raw_len = seg_end - p;
        seg->invalid = 0;
        if (memchr(p, '%', seg->raw_len) == NULL && utf8_valid(p, seg->raw_len)) {
            seg->value = p;
            seg->len = seg->raw_len;
        } else {
            char *buf = h2o_mem_alloc_pool(pool, seg->raw_len + 1);
            if (url_decode(buf, &seg->len, p, seg->raw_len, 0) != 0) {
                seg->invalid = 1;
                seg->value = p;
                seg->len = seg->raw_len;
            } else {
                seg->value = buf;
            }
        }
        p = seg_end + 1;
    }

    if (match_node(&table->root, &st, 0, 0)) {
        const route_t *r = st.found;
        match->route = r;
        match->values = h2o_mem_alloc_pool(pool, sizeof(h2o_iovec_t) * (r->num_params + 1));
        for (i = 0; i != r->num_params; ++i) {
            segment_t *seg = st.segs + st.found_params[i];
            if (seg->invalid) {
                match->values[i] = h2o_iovec_init(NULL, 0);
                if (match->invalid_param == NULL)
                    match->invalid_param = r->param_names[i];
            } else {
                match->values[i] = h2o_iovec_init(seg->value, seg->len);
            }
        }
        return ROUTE_FOUND;
    }
    if (!st.path_matched)
        return ROUTE_NO_PATH;

    /* Allow: the methods of every template matching the path, sorted */
    qsort(st.allow, st.num_allow, sizeof(st.allow[0]), compare_cstr);
    {
        size_t len = 0;
        char *buf, *d;
        for (i = 0; i != st.num_allow; ++i)
            len += strlen(st.allow[i]) + 2;
        d = buf = h2o_mem_alloc_pool(pool, len + 1);
        for (i = 0; i != st.num_allow; ++i) {
            if (i != 0) {
                *d++ = ',';
                *d++ = ' ';
            }
            memcpy(d, st.allow[i], strlen(st.allow[i]));
            d += strlen(st.allow[i]);
        }
        *d = '\0';
        match->allow = h2o_iovec_init(buf, d - buf);
    }
    return ROUTE_NO_METHOD;
}

/* ------------------------------------------------------------------------ */

static const struct {
    const char *sqlstate;
    int status;
    const char *code;
} default_errors[] = {
    {"22", 400, "validation_failed"}, {"23502", 400, "validation_failed"}, {"23514", 400, "validation_failed"},
    {"23505", 409, "conflict"},       {"23503", 409, "conflict"},          {"23P01", 409, "conflict"},
    {"28000", 401, "unauthorized"},   {"WO401", 401, "unauthorized"},      {"42501", 403, "forbidden"},
    {"P0002", 404, "not_found"},      {"WO404", 404, "not_found"},         {"WO405", 405, "method_not_allowed"},
    {"40001", 503, "unavailable"},    {"40P01", 503, "unavailable"},       {"57014", 503, "unavailable"},
    {"08", 503, "unavailable"},       {"57P01", 503, "unavailable"},       {"57P02", 503, "unavailable"},
    {"57P03", 503, "unavailable"},    {"53", 503, "unavailable"},          {"25006", 503, "unavailable"},
};

void error_map_init_default(error_map_t *map)
{
    size_t i, n = sizeof(default_errors) / sizeof(default_errors[0]);

    map->rules = xcalloc(n, sizeof(error_rule_t));
    map->size = n;
    for (i = 0; i != n; ++i) {
        snprintf(map->rules[i].sqlstate, sizeof(map->rules[i].sqlstate), "%s", default_errors[i].sqlstate);
        map->rules[i].status = default_errors[i].status;
        map->rules[i].code = xstrdup(default_errors[i].code);
    }
}

int error_map_build(error_map_t *map, PGresult *res, const char **err)
{
    int i, n;
    size_t k = 0;

    if (PQnfields(res) != 3) {
        *err = "unexpected shape of workon.errors";
        return -1;
    }
    n = PQntuples(res);
    map->rules = xcalloc((size_t)n, sizeof(error_rule_t));
    for (i = 0; i != n; ++i) {
        const char *state = PQgetvalue(res, i, 0);
        int status = atoi(PQgetvalue(res, i, 1));
        if ((strlen(state) != 2 && strlen(state) != 5) || status < 100 || status > 599)
            continue;
        snprintf(map->rules[k].sqlstate, sizeof(map->rules[k].sqlstate), "%s", state);
        map->rules[k].status = status;
        map->rules[k].code = xstrdup(PQgetvalue(res, i, 2));
        ++k;
    }
    map->size = k;
    return 0;
}

void error_map_free(error_map_t *map)
{
    size_t i;

    for (i = 0; i != map->size; ++i)
        free(map->rules[i].code);
    free(map->rules);
    map->rules = NULL;
    map->size = 0;
}

const error_rule_t *error_map_lookup(const error_map_t *map, const char *sqlstate)
{
    size_t i;

    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return NULL;
    for (i = 0; i != map->size; ++i)
        if (memcmp(map->rules[i].sqlstate, sqlstate, 6) == 0)
            return map->rules + i;
    for (i = 0; i != map->size; ++i)
        if (map->rules[i].sqlstate[2] == '\0' && memcmp(map->rules[i].sqlstate, sqlstate, 2) == 0)
            return map->rules + i;
    return NULL;
}
