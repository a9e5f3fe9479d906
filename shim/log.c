/*
 * Logging: one JSON object per line on stderr,
 * {"time":"...","level":"info","msg":"...",...}.  Lines never interleave:
 * the main thread writes each line with one write(2); a worker thread
 * collects its lines in a buffer that it writes once per pass of its event
 * loop (log_flush), in pieces of whole lines of at most PIPE_BUF bytes.
 *
 * At info level every request gets one access line (log_request); secrets,
 * tokens, passwords, bodies and query strings are never logged.
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
#define LOG_BUF_SIZE 4096 /* PIPE_BUF: one write of at most this is atomic on a pipe */

static __thread char *thread_buf;
static __thread size_t thread_buf_len;

void log_thread_buffer(void)
{
    if (thread_buf == NULL)
        thread_buf = h2o_mem_alloc(LOG_BUF_SIZE);
}

static void write_all(const char *s, size_t len)
{
    if (write(2, s, len) < 0) {
        /* nothing sensible to do */
    }
}

void log_flush(void)
{
    if (thread_buf_len != 0) {
        write_all(thread_buf, thread_buf_len);
        thread_buf_len = 0;
    }
}

static void emit(const char *line, size_t len)
{
    if (thread_buf == NULL) {
        write_all(line, len);
        return;
    }
    if (thread_buf_len + len > LOG_BUF_SIZE)
        log_flush();
    if (len > LOG_BUF_SIZE) {
        write_all(line, len);
        return;
    }
    memcpy(thread_buf + thread_buf_len, line, len);
    thread_buf_len += len;
}

static void append(char *buf, size_t *len, const char *s, size_t n)
{
    if (*len + n > LOG_LINE_MAX - 2)
        n = LOG_LINE_MAX - 2 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
}

static void append_json_string_len(char *buf, size_t *len, const char *s, size_t n)
{
    char tmp[json_escaped_max(1024) + 2];
    char *end;

    if (n > 1024)
        n = 1024;
    tmp[0] = '"';
    end = json_escape(tmp + 1, s, n);
    *end++ = '"';
    append(buf, len, tmp, end - tmp);
}

static void append_json_string(char *buf, size_t *len, const char *s)
{
    append_json_string_len(buf, len, s, strlen(s));
}

/* {"time","level","msg" so far */
static void begin_line(char *line, size_t *len, int level, const char *msg)
{
    char ts[32];
    struct timeval tv;

    gettimeofday(&tv, NULL);
    log_format_time(ts, &tv, 1);
    append(line, len, "{\"time\":\"", 9);
    append(line, len, ts, strlen(ts));
    append(line, len, "\",\"level\":\"", 11);
    append(line, len, level_names[level], strlen(level_names[level]));
    append(line, len, "\",\"msg\":", 8);
    append_json_string(line, len, msg);
}

void log_request(const char *request_id, h2o_iovec_t method, const char *route, int status, double duration_ms,
                 const char *user_id, const char *ip)
{
    char line[LOG_LINE_MAX], num[48];
    size_t len = 0;

    if (!log_enabled(LOG_INFO))
        return;
    begin_line(line, &len, LOG_INFO, "request");
    append(line, &len, ",\"request_id\":", 14);
    append_json_string(line, &len, request_id);
    append(line, &len, ",\"method\":", 10);
    append_json_string_len(line, &len, method.base, method.len < 32 ? method.len : 32);
    append(line, &len, ",\"route\":", 9);
    if (route != NULL)
        append_json_string(line, &len, route);
    else
        append(line, &len, "null", 4);
    append(line, &len, num, snprintf(num, sizeof(num), ",\"status\":%d,\"duration_ms\":%.3f", status, duration_ms));
    if (user_id != NULL) {
        append(line, &len, ",\"user_id\":", 11);
        append_json_string(line, &len, user_id);
    }
    if (ip != NULL) {
        append(line, &len, ",\"ip\":", 6);
        append_json_string(line, &len, ip);
    }
    line[len++] = '}';
    line[len++] = '\n';
    emit(line, len);
}

void log_write(int level, const char *msg, ...)
{
    char line[LOG_LINE_MAX];
    size_t len = 0;
    va_list args;
    const char *key, *value;

    if (!log_enabled(level))
        return;

    begin_line(line, &len, level, msg);

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
    emit(line, len);
}
