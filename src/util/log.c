/* src/util/log.c: the logger and its default stderr sink. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sotto/log.h"

static const char *const level_name[] = {
        [SOTTO_LOG_ERROR] = "error",
        [SOTTO_LOG_WARN] = "warn",
        [SOTTO_LOG_INFO] = "info",
        [SOTTO_LOG_DEBUG] = "debug",
};

static void stderr_sink(void *ctx, enum sotto_log_level level, const char *file, int line,
                        const char *func, const char *msg)
{
    (void)ctx;
    if (level == SOTTO_LOG_DEBUG)
        fprintf(stderr, "sotto: %s: %s (%s:%d %s)\n", level_name[level], msg, file, line, func);
    else
        fprintf(stderr, "sotto: %s: %s\n", level_name[level], msg);
}

void sotto_log_init(struct sotto_log *log)
{
    log->level = SOTTO_LOG_INFO;
    log->sink = stderr_sink;
    log->ctx = NULL;
}

void sotto_log_write(const struct sotto_log *log, enum sotto_log_level level, const char *file,
                     int line, const char *func, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (log == NULL || level > log->level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    (log->sink ? log->sink : stderr_sink)(log->ctx, level, file, line, func, msg);
}

int sotto_log_level_parse(const char *s)
{
    for (size_t i = 0; i < sizeof(level_name) / sizeof(level_name[0]); i++)
        if (strcmp(s, level_name[i]) == 0)
            return (int)i;
    return -1;
}
