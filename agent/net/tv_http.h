/*
 * tv_http.h - the agent's HTTP client: one libcurl multi handle that runs
 * batches of requests concurrently.
 *
 * A struct tv_http owns one multi handle, so every request made through it
 * shares one connection cache: connections are reused across requests and
 * batches, and HTTP/2 is used (multiplexed) where a server offers it over
 * TLS.  A caller fills an array of struct tv_http_request and hands the
 * whole array to tv_http_run, which keeps up to max_parallel of them in
 * flight, retries the ones that failed in a retryable way (with
 * exponential backoff and full jitter, honouring Retry-After) without
 * holding up the others, and returns when every request has its answer.
 *
 * Safety rules enforced for every request, whatever the caller passes:
 * TLS peer and host verification always on; only http and https; plain
 * http only to a loopback host (127.0.0.0/8, ::1, localhost), checked on
 * the parsed URL before any connection is made; no credentials in URLs;
 * redirects never followed; no proxy for loopback hosts.  The bearer
 * token is sent only as an Authorization header built from guarded
 * memory; the copy libcurl's header list holds is wiped before it is
 * freed; the header is redacted in the trace log; request bodies are never
 * logged at any level.
 *
 * The library never prints: it reports through the caller's log callback.
 * A client is not thread-safe: use it from one thread at a time.
 */
#ifndef TV_HTTP_H
#define TV_HTTP_H

#include <stddef.h>

#include "tv_error.h"
#include "tv_mem.h"

#define TV_HTTP_MAX_RESPONSE        (4u * 1024u * 1024u) /* default cap */
#define TV_HTTP_RETRY_AFTER_MAX     60 /* seconds; longer: give up */
#define TV_HTTP_DEFAULT_RETRIES     3
#define TV_HTTP_DEFAULT_CONNECT     10000 /* ms */
#define TV_HTTP_DEFAULT_TIMEOUT     30000 /* ms */
#define TV_HTTP_DEFAULT_BACKOFF     500   /* ms, first retry's ceiling */
#define TV_HTTP_DEFAULT_BACKOFF_MAX 8000  /* ms */

struct tv_http;

/* Log levels of the callback, most important first. */
enum tv_http_log_level {
    TV_HTTP_LOG_WARN = 0,  /* a retry scheduled, a request given up */
    TV_HTTP_LOG_DEBUG = 1, /* one line per finished attempt */
    TV_HTTP_LOG_TRACE = 2, /* libcurl's own trace, Authorization redacted */
};

/*
 * The log callback: one event per call, msg without a newline, valid for
 * the call only.  Never contains a token or a request body.
 */
typedef void (*tv_http_log_fn)(void *ctx, enum tv_http_log_level level,
                               const char *msg);

struct tv_http_options {
    const char *ca_bundle;   /* PEM file of trusted CAs; NULL: system */
    long connect_timeout_ms; /* 0: TV_HTTP_DEFAULT_CONNECT */
    long timeout_ms;         /* whole attempt; 0: TV_HTTP_DEFAULT_TIMEOUT */
    int max_retries;         /* -1: TV_HTTP_DEFAULT_RETRIES; 0: none */
    long backoff_ms;         /* 0: TV_HTTP_DEFAULT_BACKOFF */
    long backoff_max_ms;     /* 0: TV_HTTP_DEFAULT_BACKOFF_MAX */
    size_t max_response;     /* bytes; 0: TV_HTTP_MAX_RESPONSE */
    tv_http_log_fn log;      /* NULL: no logging */
    void *log_ctx;
    enum tv_http_log_level log_level; /* highest level passed to log */
};

/* Request flags. */
#define TV_HTTP_NO_RETRY 0x1u /* one attempt only (probes retry themselves) */
#define TV_HTTP_READ     0x2u /* not a write, whatever the method */

struct tv_http_response {
    enum tv_status status; /* TV_OK: an HTTP answer arrived (any code) */
    struct tv_error err;   /* when status is not TV_OK */
    long code;             /* HTTP status of the last attempt; 0: none */
    char *body;            /* NUL-terminated, malloc'd; never NULL on OK */
    size_t body_len;
    char *content_type; /* malloc'd, or NULL when absent */
    char *cf_mitigated; /* the cf-mitigated header, or NULL */
    long retry_after;   /* seconds from Retry-After, or -1 */
    unsigned attempts;  /* attempts made, 1 + retries */
    int http_version;   /* of the last answer: 10, 11, 20; 0: none */
};

struct tv_http_request {
    /* Filled by the caller; must stay valid until tv_http_run returns. */
    const char *method;         /* "GET", "HEAD", "POST", "PUT", ... */
    const char *url;            /* absolute http:// or https:// URL */
    const char *const *headers; /* "Name: value" lines, or NULL */
    size_t nheaders;
    const struct tv_secret *bearer; /* sent as Authorization: Bearer, or
                                       NULL; ASCII without control chars */
    const void *body;               /* request body, or NULL */
    size_t body_len;
    const struct tv_secret *secret_body; /* or a body in guarded memory,
                                            sent without a copy */
    long timeout_ms;                     /* 0: the client's */
    unsigned flags;                      /* TV_HTTP_NO_RETRY, TV_HTTP_READ */

    /* Filled by tv_http_run; release with tv_http_response_free. */
    struct tv_http_response resp;
};

/* Counters since tv_http_new, for the benchmark and the tests. */
struct tv_http_stats {
    unsigned long requests;    /* attempts sent, retries included */
    unsigned long writes;      /* of those, with a method other than GET and
                                  HEAD and without TV_HTTP_READ */
    unsigned long retries;     /* attempts that repeated an earlier one */
    unsigned long connections; /* connections opened (the rest reused one,
                                  or shared one through HTTP/2) */
};

/*
 * Creates a client with options (NULL: all defaults; the struct is copied,
 * ca_bundle is copied too).  Initialises libcurl and libsodium (for the
 * jitter) when needed.  The caller owns *out (tv_http_free).
 * TV_ENOMEM, TV_EIO (libcurl cannot start), TV_EINPUT (bad option, or a
 * ca_bundle file that cannot be read, named).
 */
enum tv_status tv_http_new(struct tv_http **out,
                           const struct tv_http_options *options,
                           struct tv_error *err);

/* Closes every connection and frees c.  NULL is accepted. */
void tv_http_free(struct tv_http *c);

/*
 * Checks url as tv_http_run would: it parses (curl's URL parser), its
 * scheme is https, or http with a loopback host, and it carries no user
 * name or password.  TV_OK or TV_EINPUT with a message naming the URL's
 * host (never its credentials).
 */
enum tv_status tv_http_check_url(const char *url, struct tv_error *err);

/*
 * Runs the n requests of reqs concurrently, at most max_parallel at a time
 * (0: all at once), and returns when each has its answer or has failed
 * for good.  Each request's resp is reset first and filled afterwards.
 *
 * An attempt is retried (up to the client's max_retries, unless the
 * request has TV_HTTP_NO_RETRY) when it got HTTP 429 or 5xx, or failed
 * with a connection refused, reset or closed, a DNS failure, or a timeout.
 * The delay is Retry-After's when the answer carries one (a 429 or 503
 * whose Retry-After is over TV_HTTP_RETRY_AFTER_MAX seconds is not
 * retried), else a random delay in [0, min(backoff_max, backoff * 2^k)).
 * A request waiting for its retry does not hold up the others.  When
 * retries run out on an HTTP answer, resp holds that last answer with
 * status TV_OK: the caller judges the code.
 *
 * Per request, resp.status is TV_OK when an HTTP answer arrived, or:
 * TV_EINPUT (refused before sending: bad method, URL refused by
 * tv_http_check_url, bearer with a non-ASCII or control byte, both body
 * and secret_body, a header that is not one "Name: value" line or that
 * is Authorization), TV_EAPI (response larger than the client's cap:
 * "response too large"), TV_ENET (transport failure after the allowed
 * attempts: the method, URL, libcurl's reason and, unless the request
 * has TV_HTTP_NO_RETRY, the attempts made),
 * TV_ENOMEM.
 *
 * Returns TV_OK when every request has resp.status TV_OK; otherwise the
 * status of the first request that failed, with its message in err.
 * TV_EINPUT also when reqs is NULL with n > 0.
 */
enum tv_status tv_http_run(struct tv_http *c, struct tv_http_request *reqs,
                           size_t n, size_t max_parallel, struct tv_error *err);

/* Frees what tv_http_run put in resp and zeroes it.  NULL is accepted. */
void tv_http_response_free(struct tv_http_response *resp);

/* Copies the counters of c to out. */
void tv_http_get_stats(const struct tv_http *c, struct tv_http_stats *out);

/*
 * Logs msg through c's callback when level is enabled (for the layers
 * above, so that one callback carries all network events).  Never pass a
 * secret.
 */
void tv_http_log(struct tv_http *c, enum tv_http_log_level level,
                 const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
