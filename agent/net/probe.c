/*
 * probe.c - verification probes: http checks and signed webhook self-tests
 * (see tv_probe.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "tv_probe.h"

#define DEFAULT_TIMEOUT_MS 5000
#define SIG_MAX            160
#define HDR_MAX            (SIG_MAX + 32)
#define BODY_MAX           512

/* The state of one job across its attempts. */
struct pj {
    struct tv_probe_job *job;
    int webhook;
    const char *kind; /* for reasons: "stripe-webhook", ... */
    long long next_at;
    int done;
    char body[BODY_MAX];
    char good[HDR_MAX];
    char bad[HDR_MAX];
    const char *hgood[3];
    const char *hbad[3];
    size_t nh;
};

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long long ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;
    nanosleep(&ts, NULL);
}

static void
hmac_hex(const unsigned char *key, size_t keylen, const char *prefix,
         const char *body, size_t body_len, char out[65])
{
    crypto_auth_hmacsha256_state st;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];

    crypto_auth_hmacsha256_init(&st, key, keylen);
    if (prefix != NULL)
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)prefix,
                                      strlen(prefix));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, body_len);
    crypto_auth_hmacsha256_final(&st, mac);
    /* The state holds key material. */
    tv_wipe(&st, sizeof(st));
    sodium_bin2hex(out, 65, mac, sizeof(mac));
}

static void
stripe_sig(const unsigned char *key, size_t keylen, long long t,
           const char *body, size_t body_len, char *out, size_t outlen)
{
    char prefix[32];
    char hex[65];

    snprintf(prefix, sizeof(prefix), "%lld.", t);
    hmac_hex(key, keylen, prefix, body, body_len, hex);
    snprintf(out, outlen, "t=%lld,v1=%s", t, hex);
}

enum tv_status
tv_probe_stripe_signature(const struct tv_secret *secret, long long t,
                          const char *body, size_t body_len, char *out,
                          size_t outlen, struct tv_error *err)
{
    if (secret == NULL || body == NULL || out == NULL || outlen < 96)
        return tv_error_set(err, TV_EINPUT,
                            "stripe signature: missing argument or short "
                            "buffer");
    stripe_sig(secret->data, secret->len, t, body, body_len, out, outlen);
    return TV_OK;
}

enum tv_status
tv_probe_creem_signature(const struct tv_secret *secret, const char *body,
                         size_t body_len, char *out, size_t outlen,
                         struct tv_error *err)
{
    if (secret == NULL || body == NULL || out == NULL || outlen < 65)
        return tv_error_set(err, TV_EINPUT,
                            "creem signature: missing argument or short "
                            "buffer");
    hmac_hex(secret->data, secret->len, NULL, body, body_len, out);
    return TV_OK;
}

static enum tv_status
check_job(const struct tv_probe_job *j, size_t i, struct tv_error *err)
{
    const char *h = j->extra_header;

    if (j->probe == NULL)
        return tv_error_set(err, TV_EINPUT, "probe job %zu has no probe", i);
    if (tv_http_check_url(j->probe->url, err) != TV_OK)
        return tv_error_prefix(err, "probe '%s'",
                               j->probe->url ? j->probe->url : "(null)");
    if (j->probe->kind != TV_PROBE_HTTP &&
        (j->secret == NULL || j->secret->len == 0))
        return tv_error_set(err, TV_EINPUT,
                            "webhook probe '%s' has no signing secret",
                            j->probe->url);
    if (h != NULL &&
        (strchr(h, ':') == NULL || h[0] == ':' || strpbrk(h, "\r\n")))
        return tv_error_set(err, TV_EINPUT,
                            "probe '%s': extra header is not one 'Name: "
                            "value' line",
                            j->probe->url);
    return TV_OK;
}

/* A fresh synthetic event and its good and forged signature headers. */
static void
make_event(struct pj *p)
{
    const struct tv_probe_job *j = p->job;
    unsigned char id[8], wrong[32];
    char idhex[17], sig[SIG_MAX];
    long long t = (long long)time(NULL);
    size_t len;
    int stripe = j->probe->kind == TV_PROBE_STRIPE_WEBHOOK;

    randombytes_buf(id, sizeof(id));
    randombytes_buf(wrong, sizeof(wrong));
    sodium_bin2hex(idhex, sizeof(idhex), id, sizeof(id));
    if (stripe)
        snprintf(p->body, sizeof(p->body),
                 "{\"id\":\"evt_tiervault_%s\",\"object\":\"event\","
                 "\"type\":\"tiervault.probe\",\"created\":%lld,"
                 "\"livemode\":false,\"data\":{\"object\":"
                 "{\"object\":\"tiervault.probe\"}}}",
                 idhex, t);
    else
        snprintf(p->body, sizeof(p->body),
                 "{\"id\":\"evt_tiervault_%s\",\"eventType\":"
                 "\"tiervault.probe\",\"created_at\":%lld,\"object\":"
                 "{\"object\":\"tiervault.probe\"}}",
                 idhex, t * 1000);
    len = strlen(p->body);
    if (stripe) {
        stripe_sig(j->secret->data, j->secret->len, t, p->body, len, sig,
                   sizeof(sig));
        snprintf(p->good, sizeof(p->good), "Stripe-Signature: %s", sig);
        stripe_sig(wrong, sizeof(wrong), t, p->body, len, sig, sizeof(sig));
        snprintf(p->bad, sizeof(p->bad), "Stripe-Signature: %s", sig);
    } else {
        hmac_hex(j->secret->data, j->secret->len, NULL, p->body, len, sig);
        snprintf(p->good, sizeof(p->good), "creem-signature: %s", sig);
        hmac_hex(wrong, sizeof(wrong), NULL, p->body, len, sig);
        snprintf(p->bad, sizeof(p->bad), "creem-signature: %s", sig);
    }
    tv_wipe(wrong, sizeof(wrong));
}

static void
pj_init(struct pj *p, struct tv_probe_job *j)
{
    memset(p, 0, sizeof(*p));
    p->job = j;
    p->webhook = j->probe->kind != TV_PROBE_HTTP;
    p->kind = j->probe->kind == TV_PROBE_STRIPE_WEBHOOK ? "stripe-webhook"
              : p->webhook                              ? "creem-webhook"
                                                        : "http";
    j->passed = 0;
    j->attempts = 0;
    j->last_status = 0;
    j->reason[0] = '\0';
    p->hgood[0] = p->hbad[0] = "Content-Type: application/json";
    p->hgood[1] = p->good;
    p->hbad[1] = p->bad;
    p->nh = 2;
    if (j->extra_header != NULL) {
        p->hgood[p->nh] = p->hbad[p->nh] = j->extra_header;
        p->nh++;
    }
}

static void
fill(struct pj *p, struct tv_http_request *q, int forged)
{
    const struct tv_probe *pr = p->job->probe;

    memset(q, 0, sizeof(*q));
    q->url = pr->url;
    q->timeout_ms = pr->timeout_ms > 0 ? pr->timeout_ms : DEFAULT_TIMEOUT_MS;
    q->flags = TV_HTTP_NO_RETRY | TV_HTTP_READ;
    if (!p->webhook) {
        q->method = pr->method ? pr->method : "GET";
        q->headers = p->job->extra_header ? &p->job->extra_header : NULL;
        q->nheaders = p->job->extra_header ? 1 : 0;
        return;
    }
    q->method = "POST";
    q->headers = forged ? p->hbad : p->hgood;
    q->nheaders = p->nh;
    q->body = p->body;
    q->body_len = strlen(p->body);
}

/* Judges an http probe's answer; returns 1 when it held. */
static int
judge_http(struct pj *p, const struct tv_http_response *r)
{
    const struct tv_probe *pr = p->job->probe;
    const char *method = pr->method ? pr->method : "GET";
    long want = pr->expect_status > 0 ? pr->expect_status : 200;
    char *reason = p->job->reason;

    if (r->status != TV_OK) {
        snprintf(reason, TV_PROBE_REASON_MAX, "%.480s", r->err.msg);
        return 0;
    }
    if (r->code != want) {
        snprintf(reason, TV_PROBE_REASON_MAX, "%s %s: status %ld, expected %ld",
                 method, pr->url, r->code, want);
        return 0;
    }
    if (pr->expect_body != NULL && pr->expect_body[0] != '\0' &&
        memmem(r->body, r->body_len, pr->expect_body,
               strlen(pr->expect_body)) == NULL) {
        snprintf(reason, TV_PROBE_REASON_MAX,
                 "%s %s: status %ld but the body lacks \"%.64s\"", method,
                 pr->url, r->code, pr->expect_body);
        return 0;
    }
    return 1;
}

/* Judges a webhook probe's two answers; returns 1 when both held. */
static int
judge_webhook(struct pj *p, const struct tv_http_response *good,
              const struct tv_http_response *bad)
{
    const char *url = p->job->probe->url;
    char *reason = p->job->reason;

    if (good->status != TV_OK) {
        snprintf(reason, TV_PROBE_REASON_MAX, "%s: %.480s", p->kind,
                 good->err.msg);
        return 0;
    }
    if (good->code < 200 || good->code > 299) {
        snprintf(reason, TV_PROBE_REASON_MAX,
                 "%s %s: signed event refused with %ld, expected 2xx", p->kind,
                 url, good->code);
        return 0;
    }
    if (bad->status != TV_OK) {
        snprintf(reason, TV_PROBE_REASON_MAX, "%s: %.480s", p->kind,
                 bad->err.msg);
        return 0;
    }
    if (bad->code >= 200 && bad->code <= 299) {
        snprintf(reason, TV_PROBE_REASON_MAX,
                 "%s %s: forged signature accepted with %ld", p->kind, url,
                 bad->code);
        return 0;
    }
    if (bad->code < 400 || bad->code > 499) {
        snprintf(reason, TV_PROBE_REASON_MAX,
                 "%s %s: forged signature answered %ld, expected 4xx", p->kind,
                 url, bad->code);
        return 0;
    }
    return 1;
}

static void
conclude(struct pj *p, int held, long long now)
{
    struct tv_probe_job *j = p->job;
    const struct tv_probe *pr = j->probe;
    unsigned max = pr->attempts > 0 ? (unsigned)pr->attempts : 1;
    size_t len;

    if (held) {
        j->passed = 1;
        j->reason[0] = '\0';
        p->done = 1;
        return;
    }
    if (j->attempts < max) {
        p->next_at = now + (pr->interval_ms > 0 ? pr->interval_ms : 0);
        return;
    }
    p->done = 1;
    len = strlen(j->reason);
    if (j->attempts > 1 && len + 20 < TV_PROBE_REASON_MAX)
        snprintf(j->reason + len, TV_PROBE_REASON_MAX - len, " (%u attempts)",
                 j->attempts);
}

/* Runs one attempt of every job that is due; returns TV_OK or ENOMEM. */
static enum tv_status
round_due(struct tv_http *http, struct pj *ps, size_t n, size_t max_parallel,
          struct tv_error *err)
{
    struct tv_http_request *reqs;
    size_t *owner;
    size_t i, k = 0, count = 0;
    long long now = now_ms();

    reqs = calloc(2 * n, sizeof(*reqs));
    owner = calloc(n, sizeof(*owner));
    if (reqs == NULL || owner == NULL) {
        free(reqs);
        free(owner);
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        if (ps[i].done || ps[i].next_at > now)
            continue;
        owner[count++] = i;
        ps[i].job->attempts++;
        if (ps[i].webhook)
            make_event(&ps[i]);
        fill(&ps[i], &reqs[k++], 0);
        if (ps[i].webhook)
            fill(&ps[i], &reqs[k++], 1);
    }
    tv_http_run(http, reqs, k, max_parallel, NULL);
    now = now_ms();
    for (i = 0, k = 0; i < count; i++) {
        struct pj *p = &ps[owner[i]];
        int held;

        p->job->last_status = reqs[k].resp.code;
        if (p->webhook) {
            held = judge_webhook(p, &reqs[k].resp, &reqs[k + 1].resp);
            k += 2;
        } else {
            held = judge_http(p, &reqs[k].resp);
            k += 1;
        }
        conclude(p, held, now);
    }
    for (i = 0; i < 2 * n; i++)
        tv_http_response_free(&reqs[i].resp);
    free(reqs);
    free(owner);
    return TV_OK;
}

enum tv_status
tv_probe_run(struct tv_http *http, struct tv_probe_job *jobs, size_t n,
             size_t max_parallel, struct tv_error *err)
{
    struct pj *ps;
    enum tv_status st = TV_OK;
    long long next, now;
    size_t i;
    int left;

    if (http == NULL || (jobs == NULL && n > 0))
        return tv_error_set(err, TV_EINPUT, "tv_probe_run: no jobs");
    for (i = 0; i < n; i++)
        if ((st = check_job(&jobs[i], i, err)) != TV_OK)
            return st;
    if (n == 0)
        return TV_OK;
    ps = calloc(n, sizeof(*ps));
    if (ps == NULL)
        return tv_error_set(err, TV_ENOMEM, "out of memory");
    for (i = 0; i < n; i++)
        pj_init(&ps[i], &jobs[i]);
    for (;;) {
        left = 0;
        next = -1;
        now = now_ms();
        for (i = 0; i < n; i++) {
            if (ps[i].done)
                continue;
            left = 1;
            if (next < 0 || ps[i].next_at < next)
                next = ps[i].next_at;
        }
        if (!left)
            break;
        if (next > now) {
            sleep_ms(next - now);
            continue;
        }
        st = round_due(http, ps, n, max_parallel, err);
        if (st != TV_OK)
            break;
    }
    free(ps);
    return st;
}
