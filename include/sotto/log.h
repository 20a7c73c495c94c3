/* include/sotto/log.h: one logger; the macros add file, function and line. Never log keys,
 * passphrases, plaintext or raw peer bytes. */
#ifndef SOTTO_LOG_H
#define SOTTO_LOG_H

enum sotto_log_level { SOTTO_LOG_ERROR, SOTTO_LOG_WARN, SOTTO_LOG_INFO, SOTTO_LOG_DEBUG };

struct sotto_log {
    enum sotto_log_level level; /* messages above this level are dropped */
    /* Receives one formatted message (no trailing newline). NULL: the stderr sink. */
    void (*sink)(void *ctx, enum sotto_log_level level, const char *file, int line,
                 const char *func, const char *msg);
    void *ctx;
};

/* Sets level INFO and the stderr sink. Cannot fail. */
void sotto_log_init(struct sotto_log *log);

/* Formats and delivers one message. `log` NULL is a no-op. Thread-safe if the sink is. */
void sotto_log_write(const struct sotto_log *log, enum sotto_log_level level, const char *file,
                     int line, const char *func, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

/* Parses "error", "warn", "info" or "debug"; returns -1 otherwise. */
int sotto_log_level_parse(const char *s);

#define log_error(log, ...)                                                                        \
    sotto_log_write((log), SOTTO_LOG_ERROR, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_warn(log, ...)                                                                         \
    sotto_log_write((log), SOTTO_LOG_WARN, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_info(log, ...)                                                                         \
    sotto_log_write((log), SOTTO_LOG_INFO, __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_debug(log, ...)                                                                        \
    sotto_log_write((log), SOTTO_LOG_DEBUG, __FILE__, __LINE__, __func__, __VA_ARGS__)

#endif
