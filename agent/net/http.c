/*
 * http.c - batches of HTTP requests on one libcurl multi handle (see
 * tv_http.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "tv_config.h"
#include "tv_http.h"

#define AUTH_PREFIX   "Authorization: Bearer "
#define TOKEN_MAX     4096
#define LOG_LINE_MAX  512
#define JITTER_RA_MAX 1000 /* ms of jitter added to a Retry-After delay */
#define POLL_MAX_MS   1000
#define CONN_CACHE    64 /* the policy's highest concurrency */

struct tv_http {
    CURLM *multi;
    struct tv_http_options opt;
    char *ca_bundle;
    struct tv_http_stats stats;
};

enum xfer_state {
    XFER_WAIT, /* ready to start at ready_at */
    XFER_RUN,  /* in the multi handle */
    XFER_DONE,
};

struct xfer {
    struct tv_http *client;
    struct tv_http_request *req;
    CURL *easy;
    CURLU *cu; /* the URL as checked, handed to libcurl as is */
    struct curl_slist *headers;
    enum xfer_state state;
    long long ready_at;
    unsigned max_retries;
    int is_write;
    char *buf;
    size_t len;
    size_t cap;
    int too_large;
    char errbuf[CURL_ERROR_SIZE];
};

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * libcurl's allocator: libcurl copies the Authorization header and small
 * request bodies into buffers of its own, so everything it frees is wiped
 * first.  NEEDSWORK: the TLS library's record buffers (OpenSSL's own
 * allocator) are not covered; core dumps and ptrace are off (tv_harden),
 * which keeps such copies from leaving the process.
 */
static void
wipe_free(void *p)
{
    if (p == NULL)
        return;
    tv_wipe(p, malloc_usable_size(p));
    free(p);
}

static void *
wipe_realloc(void *p, size_t n)
{
    size_t old;
    void *q;

    if (p == NULL)
        return malloc(n);
    /* Never realloc in place: the old block would be freed unwiped. */
    q = malloc(n ? n : 1);
    if (q == NULL)
        return NULL;
    old = malloc_usable_size(p);
    memcpy(q, p, old < n ? old : n);
    wipe_free(p);
    return q;
}

static void *
plain_malloc(size_t n)
{
    return malloc(n);
}

static char *
plain_strdup(const char *s)
{
    return strdup(s);
}

static void *
plain_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

void
tv_http_log(struct tv_http *c, enum tv_http_log_level level, const char *fmt,
            ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;

    if (c == NULL || c->opt.log == NULL || level > c->opt.log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    c->opt.log(c->opt.log_ctx, level, line);
}

static int
host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    char buf[INET6_ADDRSTRLEN + 2];
    size_t len = strlen(host);

    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (len < 3 || len - 2 >= sizeof(buf) || host[0] != '[' ||
        host[len - 1] != ']')
        return 0;
    memcpy(buf, host + 1, len - 2);
    buf[len - 2] = '\0';
    return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static enum tv_status
check_parsed(CURLU *u, struct tv_error *err)
{
    char *scheme = NULL;
    char *host = NULL;
    char *user = NULL;
    char *pass = NULL;
    enum tv_status st = TV_OK;

    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        st = tv_error_set(err, TV_EINPUT, "url without a scheme or host");
        goto out;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
        st = tv_error_set(err, TV_EINPUT,
                          "url for '%s' carries credentials: refused", host);
        goto out;
    }
    if (strcmp(scheme, "https") == 0)
        goto out;
    if (strcmp(scheme, "http") != 0) {
        st = tv_error_set(err, TV_EINPUT,
                          "url for '%s': scheme '%s' refused, only https "
                          "(or http to a loopback host)",
                          host, scheme);
        goto out;
    }
    if (!host_is_loopback(host))
        st = tv_error_set(err, TV_EINPUT,
                          "plain http to '%s' refused: use https (http is "
                          "allowed only to 127.0.0.0/8, ::1 and localhost)",
                          host);

out:
    if (pass != NULL)
        tv_wipe(pass, strlen(pass));
    curl_free(pass);
    curl_free(user);
    curl_free(host);
    curl_free(scheme);
    return st;
}

/* Parses url into *out (caller frees with curl_url_cleanup) and checks it. */
static enum tv_status
parse_url(const char *url, CURLU **out, struct tv_error *err)
{
    CURLU *u;
    CURLUcode rc;
    enum tv_status st;

    *out = NULL;
    if (url == NULL)
        return tv_error_set(err, TV_EINPUT, "no url given");
    u = curl_url();
    if (u == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory parsing a url");
    rc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (rc != CURLUE_OK)
        st = tv_error_set(err, TV_EINPUT, "url does not parse: %s",
                          curl_url_strerror(rc));
    else
        st = check_parsed(u, err);
    if (st != TV_OK) {
        curl_url_cleanup(u);
        return st;
    }
    *out = u;
    return TV_OK;
}

enum tv_status
tv_http_check_url(const char *url, struct tv_error *err)
{
    CURLU *u;
    enum tv_status st;

    st = parse_url(url, &u, err);
    curl_url_cleanup(u);
    return st;
}

static void
apply_defaults(struct tv_http_options *o)
{
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = TV_HTTP_DEFAULT_CONNECT;
    if (o->timeout_ms <= 0)
        o->timeout_ms = TV_HTTP_DEFAULT_TIMEOUT;
    if (o->max_retries < 0)
        o->max_retries = TV_HTTP_DEFAULT_RETRIES;
    if (o->backoff_ms <= 0)
        o->backoff_ms = TV_HTTP_DEFAULT_BACKOFF;
    if (o->backoff_max_ms <= 0)
        o->backoff_max_ms = TV_HTTP_DEFAULT_BACKOFF_MAX;
    if (o->max_response == 0)
        o->max_response = TV_HTTP_MAX_RESPONSE;
    o->ca_bundle = NULL;
}

enum tv_status
tv_http_new(struct tv_http **out, const struct tv_http_options *options,
            struct tv_error *err)
{
    struct tv_http *c;
    enum tv_status st;
    FILE *f;

    if (out == NULL)
        return tv_error_set(err, TV_EINPUT, "tv_http_new: no output");
    *out = NULL;
    if (sodium_init() < 0)
        return tv_error_set(err, TV_EIO, "libsodium does not start");
    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, plain_malloc, wipe_free,
                             wipe_realloc, plain_strdup,
                             plain_calloc) != CURLE_OK)
        return tv_error_set(err, TV_EIO, "libcurl does not start");
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        curl_global_cleanup();
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    if (options != NULL)
        c->opt = *options;
    else
        c->opt.max_retries = -1;
    apply_defaults(&c->opt);

    if (options != NULL && options->ca_bundle != NULL) {
        f = fopen(options->ca_bundle, "r");
        if (f == NULL) {
            st = tv_error_set(err, TV_EINPUT, "cannot read ca bundle '%s'",
                              options->ca_bundle);
            goto fail;
        }
        fclose(f);
        c->ca_bundle = strdup(options->ca_bundle);
        if (c->ca_bundle == NULL)
            goto nomem;
    }
    c->multi = curl_multi_init();
    if (c->multi == NULL)
        goto nomem;
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    /* Keep a whole batch's connections between batches. */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)CONN_CACHE);
    *out = c;
    return TV_OK;

nomem:
    st = tv_error_set(err, TV_ENOMEM, "out of memory");
fail:
    free(c->ca_bundle);
    free(c);
    curl_global_cleanup();
    return st;
}

void
tv_http_free(struct tv_http *c)
{
    if (c == NULL)
        return;
    curl_multi_cleanup(c->multi);
    free(c->ca_bundle);
    free(c);
    curl_global_cleanup();
}

void
tv_http_get_stats(const struct tv_http *c, struct tv_http_stats *out)
{
    if (c == NULL || out == NULL)
        return;
    *out = c->stats;
}

void
tv_http_response_free(struct tv_http_response *resp)
{
    if (resp == NULL)
        return;
    free(resp->body);
    free(resp->content_type);
    free(resp->cf_mitigated);
    memset(resp, 0, sizeof(*resp));
    resp->retry_after = -1;
}

static size_t
on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;
    size_t n = size * nmemb;
    size_t want;
    char *p;

    if (n > x->client->opt.max_response - x->len) {
        x->too_large = 1;
        return 0;
    }
    want = x->len + n + 1;
    if (want > x->cap) {
        size_t cap = x->cap ? x->cap : 4096;

        while (cap < want)
            cap *= 2;
        p = realloc(x->buf, cap);
        if (p == NULL)
            return 0;
        x->buf = p;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    x->buf[x->len] = '\0';
    return n;
}

static int
line_is_sensitive(const struct xfer *x, const char *line, size_t len)
{
    static const char *const words[] = { "authorization", "cookie" };
    const struct tv_secret *tok = x->req->bearer;
    size_t i, j, wl;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        wl = strlen(words[i]);
        for (j = 0; j + wl <= len; j++)
            if (strncasecmp(line + j, words[i], wl) == 0)
                return 1;
    }
    /* Belt and braces: whatever libcurl's wording, never the token. */
    if (tok != NULL && tok->len > 0 && len >= tok->len &&
        memmem(line, len, tok->data, tok->len) != NULL)
        return 1;
    return 0;
}

static void
trace_block(struct xfer *x, char mark, const char *data, size_t size)
{
    char line[LOG_LINE_MAX];
    size_t start = 0, end, n;

    while (start < size) {
        end = start;
        while (end < size && data[end] != '\n')
            end++;
        n = end - start;
        while (n > 0 && (data[start + n - 1] == '\r'))
            n--;
        if (n > 0 && line_is_sensitive(x, data + start, n)) {
            tv_http_log(x->client, TV_HTTP_LOG_TRACE,
                        "%c [a line naming a credential, redacted]", mark);
        } else if (n > 0) {
            if (n > sizeof(line) - 1)
                n = sizeof(line) - 1;
            memcpy(line, data + start, n);
            line[n] = '\0';
            tv_http_log(x->client, TV_HTTP_LOG_TRACE, "%c %s", mark, line);
        }
        start = end + 1;
    }
}

static int
on_debug(CURL *easy, curl_infotype type, char *data, size_t size,
         void *userdata)
{
    struct xfer *x = userdata;

    (void)easy;
    /* Bodies are never traced: request bodies hold secret values. */
    switch (type) {
    case CURLINFO_TEXT:
        trace_block(x, '*', data, size);
        break;
    case CURLINFO_HEADER_OUT:
        trace_block(x, '>', data, size);
        break;
    case CURLINFO_HEADER_IN:
        trace_block(x, '<', data, size);
        break;
    default:
        break;
    }
    return 0;
}

static enum tv_status
check_request(struct xfer *x, struct tv_error *err)
{
    const struct tv_http_request *r = x->req;
    static const char *const methods[] = { "GET", "HEAD",  "POST",
                                           "PUT", "PATCH", "DELETE" };
    size_t i, k;
    int known = 0;
    const char *h;

    for (i = 0; r->method != NULL && i < sizeof(methods) / sizeof(*methods);
         i++)
        known |= strcmp(r->method, methods[i]) == 0;
    if (!known)
        return tv_error_set(err, TV_EINPUT, "unknown http method '%s'",
                            r->method ? r->method : "(null)");
    if (parse_url(r->url, &x->cu, err) != TV_OK)
        return err != NULL ? err->code : TV_EINPUT;
    if (r->body != NULL && r->secret_body != NULL)
        return tv_error_set(err, TV_EINPUT, "%s %s: two bodies given",
                            r->method, r->url);
    if (r->bearer != NULL) {
        if (r->bearer->len == 0 || r->bearer->len > TOKEN_MAX)
            return tv_error_set(err, TV_EINPUT,
                                "the api token is empty or too long");
        for (i = 0; i < r->bearer->len; i++)
            if (r->bearer->data[i] <= 0x20 || r->bearer->data[i] >= 0x7f)
                return tv_error_set(err, TV_EINPUT,
                                    "the api token must be printable ascii");
    }
    for (i = 0; i < r->nheaders; i++) {
        h = r->headers[i];
        if (h == NULL || strchr(h, ':') == NULL || h[0] == ':')
            return tv_error_set(err, TV_EINPUT,
                                "%s %s: header %zu is not 'Name: value'",
                                r->method, r->url, i);
        for (k = 0; h[k] != '\0'; k++)
            if (h[k] == '\r' || h[k] == '\n')
                return tv_error_set(err, TV_EINPUT,
                                    "%s %s: header %zu holds a line break",
                                    r->method, r->url, i);
        /* Credentials travel only through bearer, in guarded memory. */
        if (strncasecmp(h, "authorization:", 14) == 0 ||
            strncasecmp(h, "proxy-authorization:", 20) == 0)
            return tv_error_set(err, TV_EINPUT,
                                "%s %s: credentials go in the bearer field, "
                                "not in a header",
                                r->method, r->url);
    }
    return TV_OK;
}

static enum tv_status
add_auth_header(struct xfer *x, struct tv_error *err)
{
    const struct tv_secret *tok = x->req->bearer;
    size_t plen = strlen(AUTH_PREFIX);
    struct tv_secret *line = NULL;
    struct curl_slist *l;
    enum tv_status st;

    st = tv_secret_new(&line, plen + tok->len, err);
    if (st != TV_OK)
        return st;
    memcpy(line->data, AUTH_PREFIX, plen);
    memcpy(line->data + plen, tok->data, tok->len);
    /*
     * libcurl keeps its own copy; wipe_headers clears it before freeing,
     * and the copies libcurl makes itself are wiped by wipe_free.
     */
    l = curl_slist_append(x->headers, (const char *)line->data);
    tv_secret_free(line);
    if (l == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    x->headers = l;
    return TV_OK;
}

static void
wipe_headers(struct curl_slist *l)
{
    struct curl_slist *p;

    for (p = l; p != NULL; p = p->next)
        tv_wipe(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

static enum tv_status
build_headers(struct xfer *x, struct tv_error *err)
{
    const struct tv_http_request *r = x->req;
    struct curl_slist *l;
    size_t i;

    /* No 100-continue round trip: every body here is small. */
    l = curl_slist_append(NULL, "Expect:");
    for (i = 0; l != NULL && i < r->nheaders; i++) {
        x->headers = l;
        l = curl_slist_append(l, r->headers[i]);
    }
    if (l == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    x->headers = l;
    if (r->bearer != NULL)
        return add_auth_header(x, err);
    return TV_OK;
}

static void
set_method(struct xfer *x)
{
    const struct tv_http_request *r = x->req;
    const void *body = r->body;
    size_t len = r->body_len;

    if (r->secret_body != NULL) {
        body = r->secret_body->data;
        len = r->secret_body->len;
    }
    if (strcmp(r->method, "GET") == 0) {
        curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(x->easy, CURLOPT_NOBODY, 1L);
        return;
    }
    if (strcmp(r->method, "POST") != 0)
        curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, r->method);
    if (body == NULL && strcmp(r->method, "DELETE") == 0)
        return;
    /* POSTFIELDS points at the caller's (maybe guarded) bytes: no copy. */
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)(body ? len : 0));
}

static enum tv_status
setup_easy(struct xfer *x, struct tv_error *err)
{
    struct tv_http *c = x->client;
    const struct tv_http_request *r = x->req;
    long timeout = r->timeout_ms > 0 ? r->timeout_ms : c->opt.timeout_ms;
    CURL *e;

    x->easy = e = curl_easy_init();
    if (e == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    if (build_headers(x, err) != TV_OK)
        return err != NULL ? err->code : TV_ENOMEM;
    curl_easy_setopt(e, CURLOPT_CURLU, x->cu);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_bundle != NULL)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_bundle);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /*
     * Waiting for a connection to learn whether it multiplexes pays off
     * only where ALPN can say yes (https); over plain http, libcurl would
     * hold every other request of a batch until the first answer came.
     */
    if (strncasecmp(r->url, "https:", 6) == 0)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "localhost,127.0.0.0/8,::1");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->opt.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tiervault/" TV_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    if (c->opt.log != NULL && c->opt.log_level >= TV_HTTP_LOG_TRACE) {
        curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, on_debug);
        curl_easy_setopt(e, CURLOPT_DEBUGDATA, x);
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    }
    set_method(x);
    return TV_OK;
}

static void
xfer_cleanup(struct xfer *x)
{
    if (x->easy != NULL) {
        if (x->state == XFER_RUN)
            curl_multi_remove_handle(x->client->multi, x->easy);
        curl_easy_cleanup(x->easy);
    }
    curl_url_cleanup(x->cu);
    wipe_headers(x->headers);
    free(x->buf);
    memset(x, 0, sizeof(*x));
}

static int
is_write(const struct tv_http_request *r)
{
    if (r->flags & TV_HTTP_READ)
        return 0;
    return strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0;
}

static void
xfer_init(struct tv_http *c, struct xfer *x, struct tv_http_request *r)
{
    tv_http_response_free(&r->resp);
    x->client = c;
    x->req = r;
    x->state = XFER_DONE;
    if (check_request(x, &r->resp.err) != TV_OK ||
        setup_easy(x, &r->resp.err) != TV_OK) {
        r->resp.status = r->resp.err.code;
        return;
    }
    x->max_retries = (r->flags & TV_HTTP_NO_RETRY) ? 0 : c->opt.max_retries;
    x->is_write = is_write(r);
    x->state = XFER_WAIT;
}

static int
start(struct xfer *x)
{
    struct tv_http *c = x->client;

    x->len = 0;
    x->too_large = 0;
    x->errbuf[0] = '\0';
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK)
        return -1;
    x->state = XFER_RUN;
    if (x->req->resp.attempts > 0)
        c->stats.retries++;
    x->req->resp.attempts++;
    c->stats.requests++;
    if (x->is_write)
        c->stats.writes++;
    return 0;
}

static int
curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static long
parse_retry_after(const char *v)
{
    char *end;
    long s;
    time_t t;

    while (*v == ' ')
        v++;
    if (isdigit((unsigned char)*v)) {
        s = strtol(v, &end, 10);
        while (*end == ' ')
            end++;
        return *end == '\0' && s >= 0 ? s : -1;
    }
    t = curl_getdate(v, NULL);
    if (t == (time_t)-1)
        return -1;
    return t > time(NULL) ? (long)(t - time(NULL)) : 0;
}

static char *
header_dup(CURL *easy, const char *name)
{
    struct curl_header *h = NULL;

    if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK ||
        h == NULL || h->value == NULL)
        return NULL;
    return strdup(h->value);
}

static void
read_answer(struct xfer *x)
{
    struct tv_http_response *resp = &x->req->resp;
    char *ct = NULL;
    long ver = 0;
    char *ra;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &resp->code);
    if (curl_easy_getinfo(x->easy, CURLINFO_HTTP_VERSION, &ver) == CURLE_OK)
        resp->http_version = ver == CURL_HTTP_VERSION_2_0   ? 20
                             : ver == CURL_HTTP_VERSION_1_1 ? 11
                             : ver == CURL_HTTP_VERSION_1_0 ? 10
                                                            : 0;
    free(resp->content_type);
    free(resp->cf_mitigated);
    resp->content_type = NULL;
    if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
        ct != NULL)
        resp->content_type = strdup(ct);
    resp->cf_mitigated = header_dup(x->easy, "cf-mitigated");
    resp->retry_after = -1;
    ra = header_dup(x->easy, "Retry-After");
    if (ra != NULL)
        resp->retry_after = parse_retry_after(ra);
    free(ra);
}

static long
backoff_delay(const struct xfer *x)
{
    const struct tv_http_options *o = &x->client->opt;
    unsigned k = x->req->resp.attempts - 1;
    long ceil = o->backoff_ms;
    long ra = x->req->resp.retry_after;
    long jitter_max;

    if (ra >= 0) {
        jitter_max =
            o->backoff_ms < JITTER_RA_MAX ? o->backoff_ms : JITTER_RA_MAX;
        return ra * 1000 + (long)randombytes_uniform((uint32_t)jitter_max);
    }
    while (k-- > 0 && ceil < o->backoff_max_ms)
        ceil *= 2;
    if (ceil > o->backoff_max_ms)
        ceil = o->backoff_max_ms;
    /* Full jitter: spread the retries of a batch over the whole window. */
    return (long)randombytes_uniform((uint32_t)ceil);
}

static void
schedule_retry(struct xfer *x, const char *why)
{
    long delay = backoff_delay(x);
    const struct tv_http_request *r = x->req;

    tv_http_log(x->client, TV_HTTP_LOG_WARN,
                "%s %s: %s, retrying in %ld ms (attempt %u of %u)", r->method,
                r->url, why, delay, r->resp.attempts + 1, x->max_retries + 1);
    x->state = XFER_WAIT;
    x->ready_at = now_ms() + delay;
}

static void
fail_transport(struct xfer *x, CURLcode rc)
{
    struct tv_http_request *r = x->req;
    char why[CURL_ERROR_SIZE];

    snprintf(why, sizeof(why), "%s",
             x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    /* House style is lowercase, but "SSL" stays an acronym. */
    if (islower((unsigned char)why[1]))
        why[0] = (char)tolower((unsigned char)why[0]);
    if (curl_retryable(rc) && r->resp.attempts <= x->max_retries) {
        schedule_retry(x, why);
        return;
    }
    x->state = XFER_DONE;
    r->resp.code = 0;
    /* A caller that retries itself (a probe) counts its own attempts. */
    if (x->max_retries == 0)
        r->resp.status = tv_error_set(&r->resp.err, TV_ENET, "%s %s: %s",
                                      r->method, r->url, why);
    else
        r->resp.status = tv_error_set(
            &r->resp.err, TV_ENET, "%s %s: %s (%u attempt%s)", r->method,
            r->url, why, r->resp.attempts, r->resp.attempts == 1 ? "" : "s");
}

static void
finish(struct xfer *x, CURLcode rc)
{
    struct tv_http_request *r = x->req;
    struct tv_http_response *resp = &r->resp;
    curl_off_t us;
    char why[64];

    x->state = XFER_DONE;
    if (x->too_large) {
        resp->status =
            tv_error_set(&resp->err, TV_EAPI,
                         "%s %s: response too large (over %zu "
                         "bytes)",
                         r->method, r->url, x->client->opt.max_response);
        return;
    }
    if (rc != CURLE_OK) {
        fail_transport(x, rc);
        return;
    }
    read_answer(x);
    if (curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &us) != CURLE_OK)
        us = 0;
    tv_http_log(x->client, TV_HTTP_LOG_DEBUG, "%s %s: %ld, %zu bytes, %ld ms",
                r->method, r->url, resp->code, x->len, (long)(us / 1000));
    if ((resp->code == 429 || resp->code >= 500) &&
        resp->attempts <= x->max_retries) {
        if (resp->retry_after > TV_HTTP_RETRY_AFTER_MAX) {
            tv_http_log(x->client, TV_HTTP_LOG_WARN,
                        "%s %s: %ld with retry-after %ld s, over %d s: "
                        "giving up",
                        r->method, r->url, resp->code, resp->retry_after,
                        TV_HTTP_RETRY_AFTER_MAX);
        } else {
            snprintf(why, sizeof(why), "status %ld", resp->code);
            schedule_retry(x, why);
            return;
        }
    }
    free(resp->body);
    resp->body = x->buf ? x->buf : calloc(1, 1);
    resp->body_len = x->len;
    x->buf = NULL;
    x->cap = x->len = 0;
    resp->status = resp->body
                       ? TV_OK
                       : tv_error_set(&resp->err, TV_ENOMEM, "out of memory");
}

/* Handles finished transfers; returns how many there were. */
static size_t
collect(struct tv_http *c)
{
    struct CURLMsg *m;
    struct xfer *x;
    char *priv;
    long conns;
    size_t done = 0;
    int left;

    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        priv = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        x = (struct xfer *)priv;
        if (curl_easy_getinfo(m->easy_handle, CURLINFO_NUM_CONNECTS, &conns) ==
                CURLE_OK &&
            conns > 0)
            c->stats.connections += (unsigned long)conns;
        curl_multi_remove_handle(c->multi, m->easy_handle);
        if (x != NULL)
            finish(x, m->data.result);
        done++;
    }
    return done;
}

/*
 * Starts what may start; returns how many are running and sets *next to
 * the earliest time a waiting one may start (or -1 when none waits).
 */
static size_t
start_ready(struct xfer *xs, size_t n, size_t limit, long long *next)
{
    long long now = now_ms();
    size_t i, running = 0;

    for (i = 0; i < n; i++)
        running += xs[i].state == XFER_RUN;
    *next = -1;
    for (i = 0; i < n; i++) {
        if (xs[i].state != XFER_WAIT)
            continue;
        if (xs[i].ready_at <= now && running < limit) {
            if (start(&xs[i]) == 0) {
                running++;
                continue;
            }
            xs[i].state = XFER_DONE;
            xs[i].req->resp.status = tv_error_set(
                &xs[i].req->resp.err, TV_ENOMEM, "cannot start %s %s",
                xs[i].req->method, xs[i].req->url);
            continue;
        }
        /* One that waits for a free slot starts when a transfer ends. */
        if (xs[i].ready_at > now && (*next < 0 || xs[i].ready_at < *next))
            *next = xs[i].ready_at;
    }
    return running;
}

static void
drive(struct tv_http *c, struct xfer *xs, size_t n, size_t limit)
{
    long long next, wait;
    size_t running;
    int still;

    for (;;) {
        running = start_ready(xs, n, limit, &next);
        if (running == 0 && next < 0)
            break;
        curl_multi_perform(c->multi, &still);
        /* A slot came free, or a retry was scheduled: look again first. */
        if (collect(c) > 0)
            continue;
        wait = POLL_MAX_MS;
        if (next >= 0 && next - now_ms() < wait)
            wait = next - now_ms();
        if (wait < 0)
            wait = 0;
        if (running > 0 || wait > 0)
            curl_multi_poll(c->multi, NULL, 0, (int)wait, NULL);
    }
}

enum tv_status
tv_http_run(struct tv_http *c, struct tv_http_request *reqs, size_t n,
            size_t max_parallel, struct tv_error *err)
{
    struct xfer *xs;
    enum tv_status st = TV_OK;
    size_t i;

    if (c == NULL || (reqs == NULL && n > 0))
        return tv_error_set(err, TV_EINPUT, "tv_http_run: no requests");
    if (n == 0)
        return TV_OK;
    xs = calloc(n, sizeof(*xs));
    if (xs == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (i = 0; i < n; i++)
        xfer_init(c, &xs[i], &reqs[i]);
    drive(c, xs, n, max_parallel ? max_parallel : n);
    for (i = 0; i < n; i++) {
        xfer_cleanup(&xs[i]);
        if (st == TV_OK && reqs[i].resp.status != TV_OK) {
            st = tv_error_set(err, reqs[i].resp.status, "%s",
                              reqs[i].resp.err.msg);
        }
    }
    free(xs);
    return st;
}
