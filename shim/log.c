/*
 * Logging: one JSON object per line on stderr,
 * {"time":"...","level":"info","msg":"...",...}, written with a single
 * write(2) so lines from different threads never interleave.
 */
#include "shim.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_min_level = LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

size_t log_format_time(char *buf, const struct timeval *tv, int with_ms)
{
    struct tm tm;
    size_t n;

    gmtime_r(&tv->tv_sec, &tm);
    n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    if (with_ms)
        n += sprintf(buf + n, ".%03dZ", (int)(tv->tv_usec / 1000));
    else
        n += sprintf(buf + n, "Z");
    return n;
}

#define LOG_LINE_MAX 8192

static void append(char *buf, size_t *len, const char *s, size_t n)
{
    if (*len + n > LOG_LINE_MAX - 2)
        n = LOG_LINE_MAX - 2 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
}

static void append_json_string(char *buf, size_t *len, const char *s)
{
    char tmp[json_escaped_max(1024) + 2];
    size_t n = strlen(s);
    char *end;

    if (n > 1024)
        n = 1024;
    tmp[0] = '"';
    end = json_escape(tmp + 1, s, n);
    *end++ = '"';
    append(buf, len, tmp, end - tmp);
}

void log_write(int level, const char *msg, ...)
{
    char line[LOG_LINE_MAX], ts[32];
    size_t len = 0;
    struct timeval tv;
    va_list args;
    const char *key, *value;

    if (!log_enabled(level))
        return;

    gettimeofday(&tv, NULL);
    log_format_time(ts, &tv, 1);
    append(line, &len, "{\"time\":\"", 9);
    append(line, &len, ts, strlen(ts));
    append(line, &len, "\",\"level\":\"", 11);
    append(line, &len, level_names[level], strlen(level_names[level]));
    append(line, &len, "\",\"msg\":", 8);
    append_json_string(line, &len, msg);

    va_start(args, msg);
    while ((key = va_arg(args, const char *)) != NULL) {
        int raw = key[0] == '#';
        value = va_arg(args, const char *);
        if (raw)
            ++key;
        append(line, &len, ",\"", 2);
        append(line, &len, key, strlen(key));
        append(line, &len, "\":", 2);
        if (value == NULL)
            append(line, &len, "null", 4);
        else if (raw)
            append(line, &len, value, strlen(value));
        else
            append_json_string(line, &len, value);
    }
    va_end(args);

    line[len++] = '}';
    line[len++] = '\n';
    if (write(2, line, len) < 0) {
        /* nothing sensible to do */
    }
}
