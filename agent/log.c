/*
 * log.c - the agent's message module (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LINE_MAX_LEN 1024

static int log_max = TV_LOG_WARN;
static long long log_start_ms;

void
tv_log_init(int verbosity)
{
    log_start_ms = tv_log_ms();
    if (verbosity < 0)
        log_max = TV_LOG_ERROR;
    else if (verbosity > 0)
        log_max = TV_LOG_DEBUG;
    else
        log_max = isatty(STDERR_FILENO) ? TV_LOG_STEP : TV_LOG_WARN;
}

int
tv_log_enabled(enum tv_log_level level)
{
    return (int)level <= log_max;
}

static void
log_vline(const char *tier, const char *worker, const char *fmt, va_list ap)
{
    char line[LINE_MAX_LEN];
    size_t len;
    int n;

    /* With -v every line says when, as a daemon's log does. */
    if (log_max >= TV_LOG_DEBUG)
        n = snprintf(line, sizeof(line), "tiervault-agent: +%.3fs: ",
                     (double)(tv_log_ms() - log_start_ms) / 1000.0);
    else
        n = snprintf(line, sizeof(line), "tiervault-agent: ");
    len = n > 0 ? (size_t)n : 0;
    if (tier != NULL && len < sizeof(line)) {
        n = snprintf(line + len, sizeof(line) - len, "tier '%s': ", tier);
        len += n > 0 ? (size_t)n : 0;
    }
    if (worker != NULL && len < sizeof(line)) {
        n = snprintf(line + len, sizeof(line) - len, "worker '%s': ", worker);
        len += n > 0 ? (size_t)n : 0;
    }
    if (len < sizeof(line)) {
        n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
        len += n > 0 ? (size_t)n : 0;
    }
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line: concurrent writers never split a line. */
    if (write(STDERR_FILENO, line, len) < 0)
        return;
}

void
tv_log(enum tv_log_level level, const char *tier, const char *worker,
       const char *fmt, ...)
{
    va_list ap;

    if (!tv_log_enabled(level))
        return;
    va_start(ap, fmt);
    log_vline(tier, worker, fmt, ap);
    va_end(ap);
}

long long
tv_log_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
tv_log_step(const char *tier, const char *worker, const char *action,
            const char *result, long long start_ms)
{
    tv_log(TV_LOG_STEP, tier, worker, "%s: %s (%lld ms)", action, result,
           tv_log_ms() - start_ms);
}
