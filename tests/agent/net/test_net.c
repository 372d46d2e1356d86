/*
 * test_net.c - the network layer against a scripted local server
 * (netserver.py, started here on 127.0.0.1 port 0): retries, backoff,
 * the response cap, the URL rules, concurrency counted by the server,
 * the Cloudflare envelope, the token and webhook secrets kept out of every
 * log line, and webhook signatures checked by an independent Python
 * implementation.
 *
 * Usage: test_net PYTHON NETSERVER.PY
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "tv_cf.h"
#include "tv_config.h"
#include "tv_http.h"
#include "tv_probe.h"

#define ACCOUNT "0123456789abcdef0123456789abcdef"

/* HMAC-SHA256 keyed "whsec_test", from Python's hmac module. */
#define STRIPE_VECTOR /* over "1700000000.{}" */                               \
    "35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
#define CREEM_VECTOR /* over "{}" */                                           \
    "46bdc2a2e83964bd2695acc6a1f97162d8bafc135a071aa5cd5c99aae5481440"

static char *python_path;
static char *server_path;
static pid_t server_pid = -1;
static int server_stdin = -1;
static char base[64];
static char tls_base[64];
static char wrong_base[64];
static char ca_path[4096];
static char token_canary[64];
static char stripe_secret[64];
static char creem_secret[64];

/* Everything the library logged, at every level. */
struct logbuf {
    char *data;
    size_t len;
    size_t lines;
};

static struct logbuf logs;

static void
on_log(void *ctx, enum tv_http_log_level level, const char *msg)
{
    struct logbuf *b = ctx;
    size_t n = strlen(msg);
    char *p;

    (void)level;
    p = realloc(b->data, b->len + n + 2);
    assert_non_null(p);
    b->data = p;
    memcpy(b->data + b->len, msg, n);
    b->len += n;
    b->data[b->len++] = '\n';
    b->data[b->len] = '\0';
    b->lines++;
}

static void
logs_reset(void)
{
    free(logs.data);
    memset(&logs, 0, sizeof(logs));
}

static void
random_label(char *out, size_t outlen, const char *label)
{
    unsigned char r[12];
    char hex[25];

    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(out, outlen, "%s-%s", label, hex);
}

/*
 * Starts `python script [args]`, whose first line of output is
 * "PORT ..." (or "NONE"), into line; its stdin stays open in *in_fd until
 * the test closes it, which stops the server.
 */
static int
spawn(char *script, char *const *args, pid_t *pid, int *in_fd, char *line,
      size_t linelen)
{
    char *argv[8];
    int in[2], out[2];
    size_t i, n = 0;
    FILE *f;

    argv[n++] = python_path;
    argv[n++] = script;
    for (i = 0; args != NULL && args[i] != NULL && n < 7; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    *pid = fork();
    if (*pid < 0)
        return -1;
    if (*pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execv(python_path, argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *in_fd = in[1];
    f = fdopen(out[0], "r");
    if (f == NULL || fgets(line, (int)linelen, f) == NULL)
        return -1;
    fclose(f);
    return 0;
}

static void
unspawn(pid_t pid, int in_fd)
{
    if (in_fd >= 0)
        close(in_fd);
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static void
sibling(char *out, size_t outlen, const char *name)
{
    const char *slash = strrchr(server_path, '/');

    snprintf(out, outlen, "%.*s%s", slash ? (int)(slash - server_path + 1) : 0,
             server_path, name);
}

static int
start_server(void **state)
{
    static char opt_stripe[] = "--stripe-secret";
    static char opt_creem[] = "--creem-secret";
    char *args[] = { opt_stripe, stripe_secret, opt_creem, creem_secret, NULL };
    char line[64];
    int port = 0, tport = 0, wport = 0;

    (void)state;
    if (sodium_init() < 0)
        return -1;
    random_label(token_canary, sizeof(token_canary), "CANARYTOKEN");
    random_label(stripe_secret, sizeof(stripe_secret), "whsec_CANARY");
    random_label(creem_secret, sizeof(creem_secret), "creem_CANARY");
    if (spawn(server_path, args, &server_pid, &server_stdin, line,
              sizeof(line)) != 0 ||
        sscanf(line, "PORT %d %d %d", &port, &tport, &wport) != 3)
        return -1;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    snprintf(tls_base, sizeof(tls_base), "127.0.0.1:%d", tport);
    snprintf(wrong_base, sizeof(wrong_base), "127.0.0.1:%d", wport);
    sibling(ca_path, sizeof(ca_path), "tls/ca.pem");
    return 0;
}

static int
stop_server(void **state)
{
    (void)state;
    unspawn(server_pid, server_stdin);
    logs_reset();
    return 0;
}

static struct tv_http *
client(long backoff_ms, size_t max_response, enum tv_http_log_level level)
{
    struct tv_http_options o;
    struct tv_http *c = NULL;
    struct tv_error err;

    memset(&o, 0, sizeof(o));
    o.max_retries = -1;
    o.backoff_ms = backoff_ms;
    o.backoff_max_ms = backoff_ms * 4;
    o.max_response = max_response;
    o.log = on_log;
    o.log_ctx = &logs;
    o.log_level = level;
    assert_int_equal(tv_http_new(&c, &o, &err), TV_OK);
    return c;
}

static char *
url(const char *fmt, ...)
{
    static char bufs[16][256];
    static unsigned next;
    char path[192];
    char *b = bufs[next++ % 16];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(path, sizeof(path), fmt, ap);
    va_end(ap);
    snprintf(b, sizeof(bufs[0]), "%s%s", base, path);
    return b;
}

/* GETs a control route of the server and returns its JSON (caller frees). */
static cJSON *
control(const char *path)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_WARN);
    struct tv_http_request r;
    struct tv_error err;
    cJSON *doc;

    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.url = url("%s", path);
    assert_int_equal(tv_http_run(c, &r, 1, 1, &err), TV_OK);
    doc = cJSON_Parse(r.resp.body);
    assert_non_null(doc);
    tv_http_response_free(&r.resp);
    tv_http_free(c);
    return doc;
}

static long
control_num(const char *path, const char *field)
{
    cJSON *doc = control(path);
    long v = (long)cJSON_GetObjectItem(doc, field)->valuedouble;

    cJSON_Delete(doc);
    return v;
}

static void
get1(struct tv_http *c, struct tv_http_request *r, const char *u)
{
    struct tv_error err;

    memset(r, 0, sizeof(*r));
    r->method = "GET";
    r->url = u;
    tv_http_run(c, r, 1, 1, &err);
}

static void
test_url_rules(void **state)
{
    struct tv_error err;
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_TRACE);
    struct tv_http_request r;
    struct tv_http_stats st;

    (void)state;
    assert_int_equal(tv_http_check_url("https://api.cloudflare.com/x", &err),
                     TV_OK);
    assert_int_equal(tv_http_check_url("http://127.0.0.1:1/x", &err), TV_OK);
    assert_int_equal(tv_http_check_url("http://127.9.8.7/", &err), TV_OK);
    assert_int_equal(tv_http_check_url("http://localhost:8/", &err), TV_OK);
    assert_int_equal(tv_http_check_url("http://[::1]:8/", &err), TV_OK);
    assert_int_equal(tv_http_check_url("http://192.0.2.1/", &err), TV_EINPUT);
    assert_non_null(strstr(err.msg, "'192.0.2.1'"));
    assert_int_equal(tv_http_check_url("http://127.0.0.1.example.com/", &err),
                     TV_EINPUT);
    assert_int_equal(tv_http_check_url("http://[::2]/", &err), TV_EINPUT);
    assert_int_equal(tv_http_check_url("http://localhost.evil.test/", &err),
                     TV_EINPUT);
    assert_int_equal(tv_http_check_url("ftp://127.0.0.1/", &err), TV_EINPUT);
    assert_int_equal(tv_http_check_url("https://u:pw1@example.com/", &err),
                     TV_EINPUT);
    assert_null(strstr(err.msg, "pw1"));
    assert_int_equal(tv_http_check_url("not a url", &err), TV_EINPUT);

    /* Refused before any connection: no attempt is counted or made. */
    get1(c, &r, "http://192.0.2.1/client/v4/user/tokens/verify");
    assert_int_equal(r.resp.status, TV_EINPUT);
    assert_int_equal(r.resp.attempts, 0);
    tv_http_get_stats(c, &st);
    assert_int_equal(st.requests, 0);
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

static void
test_retry_500_then_ok(void **state)
{
    struct tv_http *c = client(20, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r;
    struct tv_http_stats st;

    (void)state;
    get1(c, &r, url("/flaky/k500?fail=2&code=500"));
    assert_int_equal(r.resp.status, TV_OK);
    assert_int_equal(r.resp.code, 200);
    assert_int_equal(r.resp.attempts, 3);
    assert_int_equal(control_num("/_hits/k500", "count"), 3);
    tv_http_get_stats(c, &st);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.writes, 0);
    assert_non_null(strstr(logs.data, "status 500, retrying"));
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

static void
test_retry_429_honours_retry_after(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r;
    cJSON *hits, *times;
    double gap;

    (void)state;
    get1(c, &r, url("/flaky/k429?fail=1&code=429&retry_after=1"));
    assert_int_equal(r.resp.status, TV_OK);
    assert_int_equal(r.resp.code, 200);
    assert_int_equal(r.resp.attempts, 2);
    /* The server saw the second attempt no sooner than Retry-After. */
    hits = control("/_hits/k429");
    times = cJSON_GetObjectItem(hits, "times");
    assert_int_equal(cJSON_GetArraySize(times), 2);
    gap = cJSON_GetArrayItem(times, 1)->valuedouble -
          cJSON_GetArrayItem(times, 0)->valuedouble;
    assert_true(gap >= 0.95);
    cJSON_Delete(hits);
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

static void
test_retry_after_too_long(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r;

    (void)state;
    logs_reset();
    get1(c, &r, url("/flaky/klong?fail=1&code=429&retry_after=120"));
    assert_int_equal(r.resp.status, TV_OK);
    assert_int_equal(r.resp.code, 429);
    assert_int_equal(r.resp.retry_after, 120);
    assert_int_equal(r.resp.attempts, 1);
    assert_non_null(strstr(logs.data, "giving up"));
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

static void
test_reset_then_ok(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r;

    (void)state;
    get1(c, &r, url("/reset/kreset?fail=2"));
    assert_int_equal(r.resp.status, TV_OK);
    assert_int_equal(r.resp.code, 200);
    assert_int_equal(r.resp.attempts, 3);
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

static void
test_bounded_retries(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r;

    (void)state;
    get1(c, &r, url("/flaky/k503?fail=100&code=503"));
    /* The last answer is handed back for the caller to judge. */
    assert_int_equal(r.resp.status, TV_OK);
    assert_int_equal(r.resp.code, 503);
    assert_int_equal(r.resp.attempts, 1 + TV_HTTP_DEFAULT_RETRIES);
    assert_int_equal(control_num("/_hits/k503", "count"),
                     1 + TV_HTTP_DEFAULT_RETRIES);
    tv_http_response_free(&r.resp);

    get1(c, &r, url("/reset/kreset2?fail=100"));
    assert_int_equal(r.resp.status, TV_ENET);
    assert_non_null(strstr(r.resp.err.msg, "GET http://127.0.0.1"));
    assert_non_null(strstr(r.resp.err.msg, "(4 attempts)"));
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

/*
 * A URL on a loopback port bound by *fd but not listening: connecting
 * there is refused for as long as the caller keeps fd open.
 */
static void
refused_url(char *u, size_t len, int *fd)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &alen), 0);
    snprintf(u, len, "http://127.0.0.1:%d/x", ntohs(a.sin_port));
}

static void
test_connection_refused(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r;
    char u[64];
    int fd;

    (void)state;
    refused_url(u, sizeof(u), &fd);
    get1(c, &r, u);
    close(fd);
    assert_int_equal(r.resp.status, TV_ENET);
    assert_int_equal(r.resp.attempts, 4);
    assert_non_null(strstr(r.resp.err.msg, u));
    assert_non_null(strstr(r.resp.err.msg, "(4 attempts)"));
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

static void
test_response_cap(void **state)
{
    struct tv_http *c = client(10, 1024, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r;

    (void)state;
    get1(c, &r, url("/big?bytes=1024"));
    assert_int_equal(r.resp.status, TV_OK);
    assert_int_equal(r.resp.body_len, 1024);
    tv_http_response_free(&r.resp);
    get1(c, &r, url("/big?bytes=5000"));
    assert_int_equal(r.resp.status, TV_EAPI);
    assert_non_null(strstr(r.resp.err.msg, "response too large"));
    assert_null(r.resp.body);
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

static void
run_slow(size_t n, size_t max_parallel, const char *group)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r[8];
    struct tv_error err;
    size_t i;

    memset(r, 0, sizeof(r));
    for (i = 0; i < n; i++) {
        r[i].method = "GET";
        r[i].url = url("/slow/%s?ms=1000", group);
    }
    assert_int_equal(tv_http_run(c, r, n, max_parallel, &err), TV_OK);
    for (i = 0; i < n; i++) {
        assert_int_equal(r[i].resp.code, 200);
        tv_http_response_free(&r[i].resp);
    }
    tv_http_free(c);
}

static void
test_batch_concurrency(void **state)
{
    char path[64];

    (void)state;
    /* All eight were in the server at once: one round, not eight. */
    run_slow(8, 0, "all8");
    snprintf(path, sizeof(path), "/_stats/%s", "all8");
    assert_int_equal(control_num(path, "max"), 8);
    assert_int_equal(control_num(path, "total"), 8);
    /* The limit holds. */
    run_slow(7, 3, "lim3");
    assert_int_equal(control_num("/_stats/lim3", "max"), 3);
    assert_int_equal(control_num("/_stats/lim3", "total"), 7);
}

static void
test_retry_does_not_block_batch(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r[4];
    struct tv_error err;
    cJSON *order;
    int i, n, second_flaky = -1, last_other = -1;
    const char *p;

    (void)state;
    memset(r, 0, sizeof(r));
    r[0].method = "GET";
    r[0].url = url("/flaky/kblock?fail=1&code=429&retry_after=1");
    for (i = 1; i < 4; i++) {
        r[i].method = "GET";
        r[i].url = url("/slow/noblock?ms=50");
    }
    /* One slot: the others run while the first waits for its retry. */
    assert_int_equal(tv_http_run(c, r, 4, 1, &err), TV_OK);
    assert_int_equal(r[0].resp.code, 200);
    order = control("/_order");
    n = cJSON_GetArraySize(order);
    for (i = 0; i < n; i++) {
        p = cJSON_GetArrayItem(order, i)->valuestring;
        if (strcmp(p, "/flaky/kblock") == 0)
            second_flaky = i;
        if (strcmp(p, "/slow/noblock") == 0)
            last_other = i;
    }
    assert_true(last_other >= 0 && second_flaky > last_other);
    cJSON_Delete(order);
    for (i = 0; i < 4; i++)
        tv_http_response_free(&r[i].resp);
    tv_http_free(c);
}

static struct tv_secret *
secret(const char *s)
{
    struct tv_secret *out = NULL;
    struct tv_error err;

    assert_int_equal(tv_secret_dup(&out, s, strlen(s), &err), TV_OK);
    return out;
}

static void
sha_hex(const void *p, size_t n, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, p, n);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

static const char *
jstr(cJSON *o, const char *name)
{
    cJSON *v = cJSON_GetObjectItem(o, name);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
test_headers_body_and_canary(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_TRACE);
    struct tv_secret *tok = secret(token_canary);
    struct tv_secret *body = secret("{\"v\":\"guarded body\"}");
    struct tv_http_request r[3];
    struct tv_error err;
    char auth[128], want[65];
    cJSON *doc, *res;
    size_t i;

    (void)state;
    logs_reset();
    memset(r, 0, sizeof(r));
    r[0].method = "PATCH";
    r[0].url = url("/echo");
    r[0].bearer = tok;
    r[0].secret_body = body;
    r[1].method = "GET";
    r[1].url = url("/flaky/kcanary?fail=1&code=500");
    r[1].bearer = tok;
    r[2].method = "GET";
    r[2].url = url("/reset/kcanary2?fail=1");
    r[2].bearer = tok;
    assert_int_equal(tv_http_run(c, r, 3, 0, &err), TV_OK);

    doc = cJSON_Parse(r[0].resp.body);
    res = cJSON_GetObjectItem(doc, "result");
    assert_string_equal(jstr(res, "method"), "PATCH");
    assert_string_equal(jstr(res, "user_agent"), "tiervault/" TV_VERSION);
    snprintf(auth, sizeof(auth), "Bearer %s", token_canary);
    sha_hex(auth, strlen(auth), want);
    assert_string_equal(jstr(res, "auth_sha256"), want);
    sha_hex(body->data, body->len, want);
    assert_string_equal(jstr(res, "body_sha256"), want);
    assert_null(jstr(res, "expect"));
    cJSON_Delete(doc);

    /* The trace ran, and the token is nowhere in it, redacted or not. */
    assert_true(logs.lines > 10);
    assert_non_null(strstr(logs.data, "> PATCH /echo"));
    assert_non_null(strstr(logs.data, "redacted"));
    assert_null(strstr(logs.data, token_canary));
    assert_null(strstr(logs.data, "guarded body"));
    for (i = 0; i < 3; i++) {
        assert_null(strstr(r[i].resp.err.msg, token_canary));
        tv_http_response_free(&r[i].resp);
    }
    tv_secret_free(tok);
    tv_secret_free(body);
    tv_http_free(c);
}

static void
test_bad_token_refused(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_TRACE);
    struct tv_secret *tok = secret("abc\xc3\xa9");
    struct tv_secret *tok2 = secret("abc\r\nX-Evil: 1");
    const char *const auth_hdr[] = { "authorization: Bearer abc" };
    const char *const split_hdr[] = { "X-A: 1\r\nX-B: 2" };
    struct tv_http_request r;
    struct tv_http_stats st;
    struct tv_error err;
    struct tv_cf *cf = NULL;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.url = url("/echo");
    r.bearer = tok;
    assert_int_equal(tv_http_run(c, &r, 1, 1, &err), TV_EINPUT);
    assert_non_null(strstr(err.msg, "printable ascii"));
    r.bearer = tok2;
    assert_int_equal(tv_http_run(c, &r, 1, 1, &err), TV_EINPUT);
    tv_http_get_stats(c, &st);
    assert_int_equal(st.requests, 0);
    assert_int_equal(tv_cf_new(&cf, c, NULL, tok, &err), TV_EINPUT);
    /* A token passed as a plain header would dodge the guarded path. */
    r.bearer = NULL;
    r.headers = auth_hdr;
    r.nheaders = 1;
    assert_int_equal(tv_http_run(c, &r, 1, 1, &err), TV_EINPUT);
    assert_non_null(strstr(err.msg, "bearer"));
    r.headers = split_hdr;
    assert_int_equal(tv_http_run(c, &r, 1, 1, &err), TV_EINPUT);
    tv_http_get_stats(c, &st);
    assert_int_equal(st.requests, 0);
    assert_null(cf);
    tv_http_response_free(&r.resp);
    tv_secret_free(tok);
    tv_secret_free(tok2);
    tv_http_free(c);
}

/* Cloudflare-level tests use the /cf routes of the server. */
struct cfenv {
    struct tv_http *http;
    struct tv_secret *tok;
    struct tv_cf *cf;
};

static void
cf_open(struct cfenv *e)
{
    struct tv_error err;

    e->http = client(10, 0, TV_HTTP_LOG_TRACE);
    e->tok = secret(token_canary);
    e->cf = NULL;
    assert_int_equal(tv_cf_new(&e->cf, e->http, url("/cf/"), e->tok, &err),
                     TV_OK);
}

static void
cf_close(struct cfenv *e)
{
    tv_cf_free(e->cf);
    tv_secret_free(e->tok);
    tv_http_free(e->http);
}

static void
test_cf_verify_fallback_and_pages(void **state)
{
    struct cfenv e;
    struct tv_cf_call c[2];
    struct tv_error err;

    (void)state;
    cf_open(&e);
    assert_int_equal(tv_cf_prep_verify_token(e.cf, &c[0], ACCOUNT, &err),
                     TV_OK);
    assert_int_equal(tv_cf_prep_accounts(e.cf, &c[1], &err), TV_OK);
    assert_int_equal(tv_cf_run(e.cf, c, 2, 4, &err), TV_OK);
    assert_true(c[0].account_token);
    assert_string_equal(jstr(c[0].result, "status"), "active");
    assert_int_equal(cJSON_GetArraySize(c[1].result), 5);
    assert_string_equal(jstr(cJSON_GetArrayItem(c[1].result, 4), "id"),
                        "0000000000000000000000000000001e");
    tv_cf_call_release(&c[0]);
    tv_cf_call_release(&c[1]);

    /* A user-token failure without an account to fall back to. */
    assert_int_equal(tv_cf_prep_verify_token(e.cf, &c[0], NULL, &err), TV_OK);
    assert_int_equal(tv_cf_run(e.cf, c, 1, 1, &err), TV_EAPI);
    assert_int_equal(c[0].cf_code, 1000);
    assert_non_null(strstr(err.msg, "cloudflare error 1000"));
    tv_cf_call_release(&c[0]);

    /* The wrong account: 10000 explained. */
    assert_int_equal(tv_cf_prep_verify_token(
                         e.cf, &c[0], "ffffffffffffffffffffffffffffffff", &err),
                     TV_OK);
    assert_int_equal(tv_cf_run(e.cf, c, 1, 1, &err), TV_EAPI);
    assert_int_equal(c[0].cf_code, 10000);
    assert_non_null(strstr(err.msg, "authentication error"));
    tv_cf_call_release(&c[0]);

    /* The account's workers.dev subdomain and a Worker's use of it. */
    assert_int_equal(tv_cf_prep_subdomain(e.cf, &c[0], ACCOUNT, &err), TV_OK);
    assert_int_equal(
        tv_cf_prep_script_subdomain(e.cf, &c[1], ACCOUNT, "w1", &err), TV_OK);
    assert_int_equal(tv_cf_run(e.cf, c, 2, 0, &err), TV_OK);
    assert_string_equal(jstr(c[0].result, "subdomain"), "acme");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(c[1].result, "enabled")));
    tv_cf_call_release(&c[0]);
    tv_cf_call_release(&c[1]);
    assert_null(strstr(logs.data, token_canary));
    cf_close(&e);
}

static void
test_cf_envelope(void **state)
{
    struct cfenv e;
    struct tv_cf_call c[5];
    struct tv_error err;
    const char *names[] = { "ghost", "waf", "empty", "liar", "ok-worker" };
    size_t i;

    (void)state;
    cf_open(&e);
    for (i = 0; i < 5; i++)
        assert_int_equal(
            tv_cf_prep_settings(e.cf, &c[i], ACCOUNT, names[i], &err), TV_OK);
    assert_int_equal(tv_cf_run(e.cf, c, 5, 0, &err), TV_ENOTFOUND);

    /* HTTP 200 with success false: the envelope decides. */
    assert_int_equal(c[0].status, TV_ENOTFOUND);
    assert_int_equal(c[0].http_code, 200);
    assert_int_equal(c[0].cf_code, 10007);
    assert_non_null(strstr(c[0].err.msg, "worker 'ghost'"));
    assert_non_null(strstr(c[0].err.msg, "/workers/scripts/ghost/settings"));
    assert_non_null(strstr(c[0].err.msg, "never creates workers"));

    assert_int_equal(c[1].status, TV_EAPI);
    assert_non_null(strstr(c[1].err.msg, "expected JSON from cloudflare, "
                                         "got text/html"));
    assert_non_null(strstr(c[1].err.msg, "cf-mitigated: challenge"));
    assert_non_null(strstr(c[1].err.msg, "HTTP 403"));

    assert_int_equal(c[2].status, TV_OK);
    assert_null(c[2].result);
    assert_int_equal(c[3].status, TV_EAPI);
    assert_non_null(strstr(c[3].err.msg, "no 'success' field"));
    assert_int_equal(c[4].status, TV_OK);
    assert_non_null(cJSON_GetObjectItem(c[4].result, "bindings"));
    for (i = 0; i < 5; i++)
        tv_cf_call_release(&c[i]);

    /* Arguments that would make a bad path are refused unsent. */
    assert_int_equal(tv_cf_prep_settings(e.cf, &c[0], ACCOUNT, "../x", &err),
                     TV_EINPUT);
    assert_int_equal(tv_cf_prep_scripts(e.cf, &c[1], "nothex", &err),
                     TV_EINPUT);
    assert_int_equal(tv_cf_run(e.cf, c, 2, 0, &err), TV_EINPUT);
    tv_cf_call_release(&c[0]);
    tv_cf_call_release(&c[1]);

    /* Gaps in an array of calls are left alone. */
    assert_int_equal(tv_cf_prep_settings(e.cf, &c[1], ACCOUNT, "w1", &err),
                     TV_OK);
    assert_int_equal(tv_cf_run(e.cf, c, 2, 0, &err), TV_OK);
    assert_null(c[0].result);
    assert_non_null(c[1].result);
    tv_cf_call_release(&c[1]);
    cf_close(&e);
}

static void
test_cf_secret_writes(void **state)
{
    struct cfenv e;
    struct tv_cf_call c[3];
    struct tv_error err;
    char value_canary[64], tricky[128], want[65];
    struct tv_secret *v1, *v2;
    struct tv_cf_secret s[3];
    struct tv_http_stats st;
    cJSON *sec, *k;

    (void)state;
    cf_open(&e);
    logs_reset();
    random_label(value_canary, sizeof(value_canary), "CANARYVALUE");
    snprintf(tricky, sizeof(tricky), "q\"b\\s\nn\x01 \xc3\xa9 %s",
             value_canary);
    v1 = secret(value_canary);
    v2 = secret(tricky);
    s[0] = (struct tv_cf_secret){ "API_KEY", v1 };
    s[1] = (struct tv_cf_secret){ "TRICKY", v2 };
    s[2] = (struct tv_cf_secret){ "OLD_ONE", NULL };
    assert_int_equal(
        tv_cf_prep_secrets_bulk(e.cf, &c[0], ACCOUNT, "w1", s, 3, &err), TV_OK);
    assert_int_equal(
        tv_cf_prep_secrets_bulk(e.cf, &c[1], ACCOUNT, "staged", s, 1, &err),
        TV_OK);
    assert_int_equal(tv_cf_prep_version_patch(e.cf, &c[2], ACCOUNT, "w2", s, 2,
                                              "tiervault core", &err),
                     TV_OK);
    /* The values were copied into the guarded bodies: free them now. */
    tv_secret_free(v1);
    tv_secret_free(v2);
    s[0].value = s[1].value = NULL;

    /* One call failed (10215); the others still ran and succeeded. */
    assert_int_equal(tv_cf_run(e.cf, c, 3, 0, &err), TV_EAPI);
    assert_non_null(strstr(err.msg, "10215"));

    assert_int_equal(c[0].status, TV_OK);
    assert_string_equal(jstr(c[0].result, "content_type"),
                        "application/merge-patch+json");
    sec = cJSON_GetObjectItem(c[0].result, "secrets");
    k = cJSON_GetObjectItem(sec, "TRICKY");
    sha_hex(tricky, strlen(tricky), want);
    assert_string_equal(jstr(k, "text_sha256"), want);
    assert_string_equal(jstr(k, "name"), "TRICKY");
    assert_string_equal(jstr(k, "type"), "secret_text");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(sec, "OLD_ONE")));

    assert_int_equal(c[1].cf_code, 10215);
    assert_non_null(strstr(c[1].err.msg, "staged version is pending"));
    assert_non_null(strstr(c[1].err.msg, "worker 'staged'"));

    sec = cJSON_GetObjectItem(c[2].result, "env");
    sha_hex(value_canary, strlen(value_canary), want);
    assert_string_equal(
        jstr(cJSON_GetObjectItem(sec, "API_KEY"), "text_sha256"), want);
    assert_string_equal(jstr(cJSON_GetObjectItem(c[2].result, "annotations"),
                             "workers/message"),
                        "tiervault core");
    tv_http_get_stats(e.http, &st);
    assert_int_equal(st.writes, 3);
    assert_null(strstr(logs.data, value_canary));
    assert_null(strstr(logs.data, token_canary));
    assert_null(strstr(c[1].err.msg, value_canary));
    tv_cf_call_release(&c[0]);
    tv_cf_call_release(&c[1]);
    tv_cf_call_release(&c[2]);

    /* Over 100 keys or a duplicate: the caller must split; nothing sent. */
    assert_int_equal(
        tv_cf_prep_secrets_bulk(e.cf, &c[0], ACCOUNT, "w1", s, 101, &err),
        TV_EINPUT);
    s[1].name = "API_KEY";
    assert_int_equal(
        tv_cf_prep_secrets_bulk(e.cf, &c[1], ACCOUNT, "w1", s, 2, &err),
        TV_EINPUT);
    tv_cf_call_release(&c[0]);
    tv_cf_call_release(&c[1]);
    cf_close(&e);
}

static void
test_cf_deploy_and_d1(void **state)
{
    struct cfenv e;
    struct tv_cf_call c[2];
    struct tv_error err;
    struct tv_cf_share sh[2] = { { "v-new", 0 }, { "v-old", 100 } };
    const char *params[] = { "0001_init.sql" };
    struct tv_http_stats before, after;
    cJSON *row;

    (void)state;
    cf_open(&e);
    assert_int_equal(
        tv_cf_prep_deploy(e.cf, &c[0], ACCOUNT, "w1", sh, 2, "smoke", &err),
        TV_OK);
    assert_int_equal(
        tv_cf_prep_d1_select(e.cf, &c[1], ACCOUNT, "db-1",
                             "  select name from d1_migrations where name "
                             "= ?;",
                             params, 1, &err),
        TV_OK);
    tv_http_get_stats(e.http, &before);
    assert_int_equal(tv_cf_run(e.cf, c, 2, 0, &err), TV_OK);
    tv_http_get_stats(e.http, &after);
    /* The deployment is a write; the SELECT (a POST) is not. */
    assert_int_equal(after.writes - before.writes, 1);
    assert_string_equal(jstr(c[0].result, "strategy"), "percentage");
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(c[0].result, "versions")), 2);
    row = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(c[1].result, 0), "results"), 0);
    assert_string_equal(jstr(row, "sql"),
                        "  select name from d1_migrations where name = ?;");
    assert_string_equal(
        cJSON_GetArrayItem(cJSON_GetObjectItem(row, "params"), 0)->valuestring,
        "0001_init.sql");
    tv_cf_call_release(&c[0]);
    tv_cf_call_release(&c[1]);

    /* Shares that do not add up, and SQL that could write. */
    sh[1].percentage = 90;
    assert_int_equal(
        tv_cf_prep_deploy(e.cf, &c[0], ACCOUNT, "w1", sh, 2, NULL, &err),
        TV_EINPUT);
    tv_cf_call_release(&c[0]);
    assert_int_equal(tv_cf_prep_d1_select(e.cf, &c[0], ACCOUNT, "db-1",
                                          "DELETE FROM d1_migrations", NULL, 0,
                                          &err),
                     TV_EINPUT);
    tv_cf_call_release(&c[0]);
    assert_int_equal(tv_cf_prep_d1_select(e.cf, &c[0], ACCOUNT, "db-1",
                                          "SELECT 1; DROP TABLE d1_migrations",
                                          NULL, 0, &err),
                     TV_EINPUT);
    tv_cf_call_release(&c[0]);
    assert_int_equal(tv_cf_prep_d1_select(e.cf, &c[0], ACCOUNT, "db-1",
                                          "SELECTED", NULL, 0, &err),
                     TV_EINPUT);
    assert_int_equal(tv_cf_run(e.cf, c, 1, 0, &err), TV_EINPUT);
    tv_cf_call_release(&c[0]);
    tv_http_get_stats(e.http, &before);
    assert_int_equal(before.requests, after.requests);
    cf_close(&e);
}

static void
test_connection_reuse(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r, rs[6];
    struct tv_error err;
    long before, after;
    int i, k;

    (void)state;
    before = control_num("/_conns", "count");
    for (i = 0; i < 4; i++) {
        get1(c, &r, url("/health"));
        assert_int_equal(r.resp.code, 200);
        tv_http_response_free(&r.resp);
    }
    after = control_num("/_conns", "count");
    /* One connection for the four batches, one for the second count. */
    assert_int_equal(after - before, 2);

    /* Parallel batches: each batch's connections serve the next one. */
    for (i = 0; i < 3; i++) {
        memset(rs, 0, sizeof(rs));
        for (k = 0; k < 6; k++) {
            rs[k].method = "GET";
            rs[k].url = url("/slow/reuse?ms=100");
        }
        assert_int_equal(tv_http_run(c, rs, 6, 0, &err), TV_OK);
        for (k = 0; k < 6; k++)
            tv_http_response_free(&rs[k].resp);
    }
    before = after;
    after = control_num("/_conns", "count");
    assert_int_equal(control_num("/_stats/reuse", "max"), 6);
    /*
     * The first batch reuses the connection of the sequential ones and
     * opens five; the later batches open none; one for the count.
     */
    assert_int_equal(after - before, 5 + 1);
    tv_http_free(c);
}

static void
test_timeouts(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_DEBUG);
    struct tv_http_request r;
    struct tv_error err;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.url = url("/slow/tslow?ms=1500");
    r.timeout_ms = 200;
    assert_int_equal(tv_http_run(c, &r, 1, 1, &err), TV_ENET);
    assert_int_equal(r.resp.attempts, 4);
    assert_non_null(strstr(err.msg, "timed out"));
    tv_http_response_free(&r.resp);
    r.flags = TV_HTTP_NO_RETRY;
    assert_int_equal(tv_http_run(c, &r, 1, 1, &err), TV_ENET);
    assert_int_equal(r.resp.attempts, 1);
    assert_null(strstr(err.msg, "attempt"));
    tv_http_response_free(&r.resp);

    /* Retry-After as an HTTP date is honoured too. */
    get1(c, &r, url("/flaky/kdate?fail=1&code=503&retry_after_date=1"));
    assert_int_equal(r.resp.code, 200);
    assert_int_equal(r.resp.attempts, 2);
    tv_http_response_free(&r.resp);
    tv_http_free(c);
}

static struct tv_http *
tls_client(const char *ca)
{
    struct tv_http_options o;
    struct tv_http *c = NULL;
    struct tv_error err;

    memset(&o, 0, sizeof(o));
    o.max_retries = -1;
    o.backoff_ms = 10;
    o.ca_bundle = ca;
    o.log = on_log;
    o.log_ctx = &logs;
    o.log_level = TV_HTTP_LOG_TRACE;
    assert_int_equal(tv_http_new(&c, &o, &err), TV_OK);
    return c;
}

static void
test_tls(void **state)
{
    struct tv_http *sys = tls_client(NULL);
    struct tv_http *ours = tls_client(ca_path);
    struct tv_secret *tok = secret(token_canary);
    struct tv_http_options o;
    struct tv_http_request r;
    struct tv_error err;
    struct tv_http *none = NULL;
    char u[128];

    (void)state;
    logs_reset();
    /* The test CA is not in the system store: refused, not retried. */
    snprintf(u, sizeof(u), "https://%s/health", tls_base);
    get1(sys, &r, u);
    assert_int_equal(r.resp.status, TV_ENET);
    assert_int_equal(r.resp.attempts, 1);
    assert_non_null(strstr(r.resp.err.msg, "SSL certificate problem"));
    tv_http_response_free(&r.resp);

    /* With the CA bundle it verifies, by IP and by name. */
    memset(&r, 0, sizeof(r));
    r.method = "GET";
    r.url = u;
    r.bearer = tok;
    assert_int_equal(tv_http_run(ours, &r, 1, 1, &err), TV_OK);
    assert_int_equal(r.resp.code, 200);
    tv_http_response_free(&r.resp);
    snprintf(u, sizeof(u), "https://localhost:%s/health",
             strchr(tls_base, ':') + 1);
    get1(ours, &r, u);
    assert_int_equal(r.resp.code, 200);
    tv_http_response_free(&r.resp);

    /* A certificate for another host fails even with the right CA. */
    snprintf(u, sizeof(u), "https://%s/health", wrong_base);
    get1(ours, &r, u);
    assert_int_equal(r.resp.status, TV_ENET);
    assert_int_equal(r.resp.attempts, 1);
    assert_non_null(strstr(r.resp.err.msg, "host name '127.0.0.1'"));
    tv_http_response_free(&r.resp);

    assert_null(strstr(logs.data, token_canary));
    memset(&o, 0, sizeof(o));
    o.ca_bundle = "/nonexistent/ca.pem";
    assert_int_equal(tv_http_new(&none, &o, &err), TV_EINPUT);
    assert_non_null(strstr(err.msg, "'/nonexistent/ca.pem'"));
    tv_secret_free(tok);
    tv_http_free(sys);
    tv_http_free(ours);
}

static void
test_http2_multiplexed(void **state)
{
    struct tv_http *c = tls_client(ca_path);
    struct tv_secret *tok = secret(token_canary);
    struct tv_http_request r[8];
    struct tv_http_stats st;
    struct tv_error err;
    char script[4096], line[64], u[64];
    pid_t pid = -1;
    int in_fd = -1, port = 0;
    size_t i;

    (void)state;
    sibling(script, sizeof(script), "h2server.py");
    assert_int_equal(spawn(script, NULL, &pid, &in_fd, line, sizeof(line)), 0);
    if (sscanf(line, "PORT %d", &port) != 1) {
        /* nghttpd (Debian's nghttp2-server) is not installed. */
        unspawn(pid, in_fd);
        tv_secret_free(tok);
        tv_http_free(c);
        skip();
    }
    logs_reset();
    snprintf(u, sizeof(u), "https://127.0.0.1:%d/health", port);
    memset(r, 0, sizeof(r));
    for (i = 0; i < 8; i++) {
        r[i].method = "GET";
        r[i].url = u;
        r[i].bearer = tok;
    }
    assert_int_equal(tv_http_run(c, r, 8, 0, &err), TV_OK);
    for (i = 0; i < 8; i++) {
        assert_int_equal(r[i].resp.code, 200);
        assert_int_equal(r[i].resp.http_version, 20);
        tv_http_response_free(&r[i].resp);
    }
    /* Eight requests, one connection: they shared it as HTTP/2 streams. */
    tv_http_get_stats(c, &st);
    assert_int_equal(st.connections, 1);
    /*
     * libcurl 7.88 traces each HTTP/2 request header as an info line
     * ("h2h3 [name: value]"), the Authorization one included: those lines
     * must be caught too, not only the header block.
     */
    assert_non_null(strstr(logs.data, "* h2h3 [:path: /health]"));
    assert_non_null(strstr(logs.data, "* [a line naming a credential, "
                                      "redacted]"));
    assert_null(strstr(logs.data, token_canary));
    unspawn(pid, in_fd);
    tv_secret_free(tok);
    tv_http_free(c);
}

static void
test_cf_odd_answers(void **state)
{
    /* What each body of netserver.py's ODD_BODIES must give. */
    static const struct {
        enum tv_status st;
        const char *msg;
    } want[] = {
        { TV_EAPI, "no 'success' field" },
        { TV_EAPI, "no 'success' field" },
        { TV_EAPI, "no 'success' field" },
        { TV_EAPI, "without an error code" },
        { TV_EAPI, "without an error code" },
        { TV_EAPI, "without an error code" },
        { TV_EAPI, "malformed JSON from cloudflare" },
        { TV_OK, NULL },
        { TV_ENOTFOUND, "\"a\"" },
        { TV_EAPI, "malformed JSON from cloudflare (application/json, "
                   "HTTP 200, 15 bytes)" },
    };
    struct cfenv e;
    struct tv_cf_call c[10];
    struct tv_error err;
    char name[16];
    size_t i;

    (void)state;
    cf_open(&e);
    for (i = 0; i < 10; i++) {
        snprintf(name, sizeof(name), "odd%zu", i);
        assert_int_equal(tv_cf_prep_settings(e.cf, &c[i], ACCOUNT, name, &err),
                         TV_OK);
    }
    tv_cf_run(e.cf, c, 10, 0, &err);
    for (i = 0; i < 10; i++) {
        if (c[i].status != want[i].st ||
            (want[i].msg != NULL && strstr(c[i].err.msg, want[i].msg) == NULL))
            fail_msg("odd answer %zu: status %d, message: %s", i,
                     (int)c[i].status, c[i].err.msg);
        tv_cf_call_release(&c[i]);
    }
    cf_close(&e);
}

static void
test_cf_html_after_retries(void **state)
{
    struct cfenv e;
    struct tv_cf_call c;
    struct tv_error err;

    (void)state;
    cf_open(&e);
    assert_int_equal(tv_cf_prep_settings(e.cf, &c, ACCOUNT, "edge502", &err),
                     TV_OK);
    assert_int_equal(tv_cf_run(e.cf, &c, 1, 1, &err), TV_EAPI);
    assert_int_equal(c.http_code, 502);
    assert_int_equal(control_num("/_hits/cf-edge502", "count"), 4);
    assert_non_null(strstr(err.msg, "expected JSON from cloudflare, got "
                                    "text/html (HTTP 502)"));
    tv_cf_call_release(&c);

    /* Retry-After over a minute: given up at once, and said plainly. */
    assert_int_equal(tv_cf_prep_settings(e.cf, &c, ACCOUNT, "limited", &err),
                     TV_OK);
    assert_int_equal(tv_cf_run(e.cf, &c, 1, 1, &err), TV_EAPI);
    assert_int_equal(c.cf_code, 971);
    assert_non_null(strstr(err.msg, "(HTTP 429): rate limited"));
    assert_int_equal(control_num("/_hits/cf-limited", "count"), 1);
    tv_cf_call_release(&c);
    cf_close(&e);
}

static struct tv_probe
probe(enum tv_probe_kind kind, char *u)
{
    struct tv_probe p;

    memset(&p, 0, sizeof(p));
    p.kind = kind;
    p.url = u;
    p.expect_status = 200;
    p.timeout_ms = 5000;
    p.attempts = 2;
    p.interval_ms = 10;
    return p;
}

static void
test_probes(void **state)
{
    struct tv_http *c = client(10, 0, TV_HTTP_LOG_TRACE);
    struct tv_secret *good = secret(stripe_secret);
    struct tv_secret *bad = secret("whsec_wrong");
    struct tv_secret *cgood = secret(creem_secret);
    char over[] = "Cloudflare-Workers-Version-Overrides: w1=\"v-1\"";
    char ok[] = "ok", healthy[] = "healthy";
    char far[] = "http://192.0.2.1/health";
    char refused[64];
    int fd;
    struct tv_http_stats before, after;
    struct tv_probe p[10];
    struct tv_probe_job j[10];
    struct tv_error err;
    size_t i;

    (void)state;
    logs_reset();
    p[0] = probe(TV_PROBE_HTTP, url("/health"));
    p[0].expect_body = ok;
    p[1] = probe(TV_PROBE_HTTP, url("/health?status=500"));
    p[2] = probe(TV_PROBE_HTTP, url("/health?body=degraded"));
    p[2].expect_body = healthy;
    p[3] = probe(TV_PROBE_HTTP, url("/flaky/kprobe?fail=2&code=503"));
    p[3].attempts = 5;
    p[4] = probe(TV_PROBE_STRIPE_WEBHOOK, url("/webhook/stripe"));
    p[5] = probe(TV_PROBE_STRIPE_WEBHOOK, url("/webhook/stripe"));
    p[6] = probe(TV_PROBE_STRIPE_WEBHOOK, url("/webhook/lax"));
    p[7] = probe(TV_PROBE_CREEM_WEBHOOK, url("/webhook/creem"));
    p[8] = probe(TV_PROBE_HTTP, url("/override?want=w1%%3D%%22v-1%%22"));
    refused_url(refused, sizeof(refused), &fd);
    p[9] = probe(TV_PROBE_HTTP, refused);
    memset(j, 0, sizeof(j));
    for (i = 0; i < 10; i++)
        j[i].probe = &p[i];
    j[4].secret = good;
    j[5].secret = bad;
    j[6].secret = good;
    j[7].secret = cgood;
    j[8].extra_header = over;
    assert_int_equal(tv_probe_run(c, j, 10, 0, &err), TV_OK);
    close(fd);

    assert_true(j[0].passed);
    assert_false(j[1].passed);
    assert_int_equal(j[1].attempts, 2);
    assert_non_null(strstr(j[1].reason, "GET "));
    assert_non_null(strstr(j[1].reason, "/health?status=500: status 500, "
                                        "expected 200 (2 attempts)"));
    assert_false(j[2].passed);
    assert_non_null(strstr(j[2].reason, "lacks \"healthy\""));
    assert_true(j[3].passed);
    assert_int_equal(j[3].attempts, 3);
    assert_true(j[4].passed);
    assert_false(j[5].passed);
    assert_non_null(strstr(j[5].reason, "stripe-webhook "));
    assert_non_null(strstr(j[5].reason, "signed event refused with 400"));
    assert_false(j[6].passed);
    assert_non_null(strstr(j[6].reason, "forged signature accepted with 200"));
    assert_true(j[7].passed);
    assert_true(j[8].passed);
    assert_false(j[9].passed);
    assert_non_null(strstr(j[9].reason, "GET http://127.0.0.1:"));
    assert_non_null(strstr(j[9].reason, " (2 attempts)"));
    assert_null(strstr(j[9].reason, "attempt)"));

    /* Without the override header the route refuses: the header counts. */
    j[8].extra_header = NULL;
    assert_int_equal(tv_probe_run(c, &j[8], 1, 0, &err), TV_OK);
    assert_false(j[8].passed);
    assert_int_equal(j[8].last_status, 412);

    /* A creem probe signed with the stripe secret fails. */
    j[7].secret = good;
    assert_int_equal(tv_probe_run(c, &j[7], 1, 0, &err), TV_OK);
    assert_false(j[7].passed);

    for (i = 0; i < 10; i++)
        assert_null(strstr(j[i].reason, stripe_secret));
    assert_true(logs.lines > 0);
    assert_null(strstr(logs.data, stripe_secret));
    assert_null(strstr(logs.data, creem_secret));

    /* Refused before sending: a webhook probe without its secret, a
     * header that would smuggle a second line, a plain-http URL that is
     * not loopback. */
    tv_http_get_stats(c, &before);
    j[4].secret = NULL;
    assert_int_equal(tv_probe_run(c, &j[4], 1, 0, &err), TV_EINPUT);
    j[8].extra_header = "X-Probe: 1\r\nX-Evil: 2";
    assert_int_equal(tv_probe_run(c, &j[8], 1, 0, &err), TV_EINPUT);
    p[0].url = far;
    assert_int_equal(tv_probe_run(c, j, 1, 0, &err), TV_EINPUT);
    assert_non_null(strstr(err.msg, "'192.0.2.1'"));
    tv_http_get_stats(c, &after);
    assert_int_equal(after.requests, before.requests);
    tv_secret_free(good);
    tv_secret_free(bad);
    tv_secret_free(cgood);
    tv_http_free(c);
}

static void
test_signature_vectors(void **state)
{
    struct tv_secret *k = secret("whsec_test");
    char out[128];
    struct tv_error err;

    (void)state;
    /* Fixed vectors computed with Python's hmac module. */
    assert_int_equal(tv_probe_stripe_signature(k, 1700000000, "{}", 2, out,
                                               sizeof(out), &err),
                     TV_OK);
    assert_string_equal(out, "t=1700000000,v1=" STRIPE_VECTOR);
    assert_int_equal(
        tv_probe_creem_signature(k, "{}", 2, out, sizeof(out), &err), TV_OK);
    assert_string_equal(out, CREEM_VECTOR);
    assert_int_equal(tv_probe_creem_signature(k, "{}", 2, out, 10, &err),
                     TV_EINPUT);
    tv_secret_free(k);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_retry_500_then_ok),
        cmocka_unit_test(test_retry_429_honours_retry_after),
        cmocka_unit_test(test_retry_after_too_long),
        cmocka_unit_test(test_reset_then_ok),
        cmocka_unit_test(test_bounded_retries),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_response_cap),
        cmocka_unit_test(test_batch_concurrency),
        cmocka_unit_test(test_retry_does_not_block_batch),
        cmocka_unit_test(test_connection_reuse),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_http2_multiplexed),
        cmocka_unit_test(test_headers_body_and_canary),
        cmocka_unit_test(test_bad_token_refused),
        cmocka_unit_test(test_cf_verify_fallback_and_pages),
        cmocka_unit_test(test_cf_envelope),
        cmocka_unit_test(test_cf_secret_writes),
        cmocka_unit_test(test_cf_deploy_and_d1),
        cmocka_unit_test(test_cf_html_after_retries),
        cmocka_unit_test(test_cf_odd_answers),
        cmocka_unit_test(test_probes),
        cmocka_unit_test(test_signature_vectors),
    };

    if (argc != 3) {
        fprintf(stderr, "usage: test_net PYTHON NETSERVER.PY\n");
        return 2;
    }
    python_path = argv[1];
    server_path = argv[2];
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
