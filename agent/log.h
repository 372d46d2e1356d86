/*
 * log.h - the agent's message module.  Everything the agent says goes to
 * stderr through here, one event per line, prefixed "tiervault-agent: "
 * and gated by the verbosity chosen with -q and -v.  Results go to stdout
 * from main.c only.  Never pass a secret value to any of these functions.
 */
#ifndef TV_AGENT_LOG_H
#define TV_AGENT_LOG_H

enum tv_log_level {
    TV_LOG_ERROR = 0, /* printed unless nothing at all is wanted */
    TV_LOG_WARN = 1,  /* hidden by -q */
    TV_LOG_STEP = 2,  /* progress: on a terminal, or with -v */
    TV_LOG_DEBUG = 3, /* -v only */
};

/*
 * Sets the verbosity: -1 for -q, 0 by default, 1 for -v.  Steps are
 * shown at 0 only when stderr is a terminal.
 */
void tv_log_init(int verbosity);

/* 1 when a message of level would be printed. */
int tv_log_enabled(enum tv_log_level level);

/*
 * Prints one line at level: "tiervault-agent: [+S.SSSs: ][tier 'T': ]
 * [worker 'W': ]message", the time since tv_log_init only with -v.  tier and
 * worker may be NULL.  Lines are written with one write(2) each, so that
 * concurrent writers never interleave mid-line.
 */
void tv_log(enum tv_log_level level, const char *tier, const char *worker,
            const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * A progress step: "tier 'T': worker 'W': ACTION: RESULT (N ms)", with
 * ms the time since start_ms (tv_log_ms).  Level TV_LOG_STEP.
 */
void tv_log_step(const char *tier, const char *worker, const char *action,
                 const char *result, long long start_ms);

/* A monotonic clock in milliseconds, for step timings. */
long long tv_log_ms(void);

#endif
