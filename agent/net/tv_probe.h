/*
 * tv_probe.h - verification probes: does a Worker answer as it should with
 * the secrets just pushed?
 *
 * A probe comes from the policy (struct tv_probe in tv_policy.h):
 *   http            method, expect_status, expect_body (a substring),
 *                   timeout_ms, attempts, interval_ms;
 *   stripe-webhook  a synthetic event signed as Stripe does
 *                   (Stripe-Signature: t=<now>,v1=<hex HMAC-SHA256 of
 *                   "<t>.<body>" keyed by the whole secret string>) must be
 *                   accepted with 2xx, and the same event with a wrong
 *                   signature refused with 4xx;
 *   creem-webhook   the same with creem-signature: <hex HMAC-SHA256 of the
 *                   body>.
 * A webhook probe passes only when both answers hold.  Each attempt sends
 * its requests once (no transport retry); a failed attempt is tried again
 * after interval_ms, up to attempts times.  Probes of a batch run
 * concurrently on the shared tv_http client.
 *
 * The webhook secret is borrowed guarded memory; the HMAC state is wiped;
 * neither the secret nor a response body ever appears in a reason.
 */
#ifndef TV_PROBE_H
#define TV_PROBE_H

#include <stddef.h>

#include "tv_error.h"
#include "tv_http.h"
#include "tv_mem.h"
#include "tv_policy.h"

#define TV_PROBE_REASON_MAX 512

struct tv_probe_job {
    /* Filled by the caller; must stay valid until tv_probe_run returns. */
    const struct tv_probe *probe;   /* from the policy */
    const struct tv_secret *secret; /* webhooks: the signing secret */
    const char *extra_header;       /* one "Name: value" line sent with every
                                       request, or NULL: e.g.
                                       Cloudflare-Workers-Version-Overrides:
                                       <script>="<version-id>" */

    /* Filled by tv_probe_run. */
    int passed;                       /* 1 when the probe held */
    unsigned attempts;                /* attempts made */
    long last_status;                 /* HTTP status of the last answer, 0 */
    char reason[TV_PROBE_REASON_MAX]; /* one line when not passed, e.g.
                                         "GET https://x/health: status 500,
                                         expected 200 (5 attempts)" */
};

/*
 * Runs the n probe jobs concurrently (at most max_parallel requests in
 * flight, 0: all) until each has passed or used its attempts.  An
 * attempt's requests are bounded by the probe's timeout_ms (0: 5000).
 * A failed probe is not an error of the call: read each job's passed and
 * reason.  Returns TV_OK when every probe was run; TV_EINPUT (and sends
 * nothing) when a job has no probe, a webhook probe has no secret, a URL
 * is refused by tv_http_check_url or an extra_header is not one "Name:
 * value" line; TV_ENOMEM.
 */
enum tv_status tv_probe_run(struct tv_http *http, struct tv_probe_job *jobs,
                            size_t n, size_t max_parallel,
                            struct tv_error *err);

/*
 * The Stripe-Signature header value for body signed at time t with
 * secret: "t=<t>,v1=<64 lowercase hex>", in out (size outlen, at least
 * 96).  Exposed for the tests.  TV_EINPUT when out is too small.
 */
enum tv_status tv_probe_stripe_signature(const struct tv_secret *secret,
                                         long long t, const char *body,
                                         size_t body_len, char *out,
                                         size_t outlen, struct tv_error *err);

/*
 * The creem-signature header value for body: 64 lowercase hex digits of
 * HMAC-SHA256 keyed by secret, in out (at least 65 bytes).  TV_EINPUT
 * when out is too small.
 */
enum tv_status tv_probe_creem_signature(const struct tv_secret *secret,
                                        const char *body, size_t body_len,
                                        char *out, size_t outlen,
                                        struct tv_error *err);

#endif
