/*
 * test_keyslots.c - guarded memory, the crypto primitives as the vault
 * uses them, and keyslots: wrap and unwrap, wrong credentials, key-file
 * slots, adding and removing slots.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto.h"
#include "helpers.h"

static void
test_secret_memory(void **state)
{
    struct tv_error err = { 0 };
    struct tv_secret *s = NULL;
    size_t i;

    (void)state;
    assert_int_equal(tv_secret_new(&s, 40, &err), TV_OK);
    assert_int_equal(s->len, 40);
    for (i = 0; i <= 40; i++)
        assert_int_equal(s->data[i], 0);
    tv_secret_free(s);
    assert_int_equal(tv_secret_dup(&s, "abc", 3, &err), TV_OK);
    assert_string_equal((char *)s->data, "abc");
    tv_secret_free(s);
    assert_int_equal(tv_secret_new(&s, 0, &err), TV_OK);
    assert_int_equal(s->data[0], 0);
    tv_secret_free(s);
    tv_secret_free(NULL);

    assert_true(tv_ct_equal("abcd", 4, "abcd", 4));
    assert_false(tv_ct_equal("abcd", 4, "abce", 4));
    assert_false(tv_ct_equal("abcd", 4, "abc", 3));
    assert_true(tv_ct_equal("", 0, "", 0));
}

static void
test_error_messages(void **state)
{
    struct tv_error err = { 0 };
    char big[TV_ERROR_MSG_MAX + 100];

    (void)state;
    assert_int_equal(tv_error_set(&err, TV_EIO, "cannot read '%s'", "x"),
                     TV_EIO);
    assert_int_equal(tv_error_prefix(&err, "'%s' line %d", "f.env", 3), TV_EIO);
    assert_string_equal(err.msg, "'f.env' line 3: cannot read 'x'");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    tv_error_prefix(&err, "%s", big);
    assert_int_equal(strlen(err.msg), TV_ERROR_MSG_MAX - 1);
    tv_error_set(&err, TV_EINPUT, "%s", big);
    tv_error_prefix(&err, "p");
    assert_int_equal(strlen(err.msg), TV_ERROR_MSG_MAX - 1);
    assert_memory_equal(err.msg, "p: aaa", 6);
    assert_int_equal(tv_error_prefix(NULL, "x"), TV_OK);
    tv_error_clear(&err);
    assert_int_equal(err.code, TV_OK);
    assert_string_equal(err.msg, "");
    assert_int_equal(tv_status_exit_code(TV_EINTEGRITY), 3);
    assert_int_equal(tv_status_exit_code(TV_EUSAGE), 2);
    assert_int_equal(tv_status_exit_code(TV_EFULL), 1);
}

/* In a child: closed standard fds are reopened, core dumps are off. */
static void
test_harden(void **state)
{
    struct tv_error err = { 0 };
    struct rlimit rl;
    pid_t pid;
    int status;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(0);
        close(2);
        if (tv_harden(&err) != TV_OK || fcntl(0, F_GETFD) == -1 ||
            fcntl(2, F_GETFD) == -1 || prctl(PR_GET_DUMPABLE) != 0 ||
            getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0)
            _exit(1);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_names(void **state)
{
    char longname[TV_NAME_MAX + 2];

    (void)state;
    assert_true(tv_name_valid("node1-auth-service"));
    assert_true(tv_name_valid("STRIPE_KEY.v2"));
    assert_false(tv_name_valid(""));
    assert_false(tv_name_valid("a/b"));
    assert_false(tv_name_valid("a b"));
    assert_false(tv_name_valid(NULL));
    memset(longname, 'a', sizeof(longname));
    longname[TV_NAME_MAX] = '\0';
    assert_true(tv_name_valid(longname));
    longname[TV_NAME_MAX] = 'a';
    longname[TV_NAME_MAX + 1] = '\0';
    assert_false(tv_name_valid(longname));
    assert_true(tv_tier_valid("core"));
    assert_true(tv_tier_valid("ai-2"));
    assert_false(tv_tier_valid("Core"));
    assert_false(tv_tier_valid("2ai"));
    assert_false(tv_tier_valid(""));
    assert_int_equal(tv_kdf_parse("interactive"), TV_KDF_INTERACTIVE);
    assert_int_equal(tv_kdf_parse("moderate"), TV_KDF_MODERATE);
    assert_int_equal(tv_kdf_parse("sensitive"), TV_KDF_SENSITIVE);
    assert_int_equal(tv_kdf_parse("fast"), -1);
    assert_string_equal(tv_kdf_name(TV_KDF_MODERATE), "moderate");
    assert_string_equal(tv_op_name(TV_OP_ROLLBACK), "rollback");
}

static void
test_now_override(void **state)
{
    (void)state;
    setenv("TIERVAULT_TEST_NOW", "1700000000", 1);
    assert_int_equal(tv_now(), 1700000000);
    setenv("TIERVAULT_TEST_NOW", "12x", 1);
    assert_true(tv_now() > 1700000000);
    unsetenv("TIERVAULT_TEST_NOW");
}

/* Wrapping binds the key to the vault id and the slot id. */
static void
test_wrap_unwrap(void **state)
{
    unsigned char vid[TV_ID_LEN], other[TV_ID_LEN];
    unsigned char kek[TV_KEY_LEN], vk[TV_KEY_LEN], out[TV_KEY_LEN];
    struct tv_rec_slot s;

    (void)state;
    memset(&s, 0, sizeof(s));
    randombytes_buf(vid, sizeof(vid));
    memcpy(other, vid, sizeof(vid));
    other[0] ^= 1;
    randombytes_buf(kek, sizeof(kek));
    randombytes_buf(vk, sizeof(vk));
    tv_slot_wrap(&s, vid, 7, kek, vk);
    assert_int_equal(tv_slot_unwrap(&s, vid, 7, kek, out), 0);
    assert_memory_equal(out, vk, TV_KEY_LEN);
    assert_int_equal(tv_slot_unwrap(&s, vid, 8, kek, out), -1);
    assert_int_equal(tv_slot_unwrap(&s, other, 7, kek, out), -1);
    kek[5] ^= 0x80;
    assert_int_equal(tv_slot_unwrap(&s, vid, 7, kek, out), -1);
}

/* A value's ciphertext opens only for its own vault, name and version. */
static void
test_value_binding(void **state)
{
    struct tv_secret *ks = NULL;
    struct tv_error err = { 0 };
    struct tv_keys *k;
    unsigned char vid[TV_ID_LEN], nonce[TV_NONCE_LEN];
    unsigned char ct[5 + TV_TAG_LEN], out[5];

    (void)state;
    assert_int_equal(tv_secret_new(&ks, sizeof(*k), &err), TV_OK);
    k = (struct tv_keys *)ks->data;
    randombytes_buf(k->vault, TV_KEY_LEN);
    assert_int_equal(tv_keys_derive(k), 0);
    assert_memory_not_equal(k->value, k->record, TV_KEY_LEN);
    randombytes_buf(vid, sizeof(vid));
    tv_value_seal(k, vid, "svc", "NAME", 3, "hello", 5, nonce, ct);
    assert_int_equal(
        tv_value_open(k, vid, "svc", "NAME", 3, nonce, ct, sizeof(ct), out), 0);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(
        tv_value_open(k, vid, "svc", "NAME", 4, nonce, ct, sizeof(ct), out),
        -1);
    assert_int_equal(
        tv_value_open(k, vid, "svc", "NAMF", 3, nonce, ct, sizeof(ct), out),
        -1);
    assert_int_equal(
        tv_value_open(k, vid, "svd", "NAME", 3, nonce, ct, sizeof(ct), out),
        -1);
    /* "svc"+"NAME" and "svcN"+"AME" must not share associated data */
    assert_int_equal(
        tv_value_open(k, vid, "svcN", "AME", 3, nonce, ct, sizeof(ct), out),
        -1);
    vid[3] ^= 1;
    assert_int_equal(
        tv_value_open(k, vid, "svc", "NAME", 3, nonce, ct, sizeof(ct), out),
        -1);
    tv_secret_free(ks);
}

static struct tv_secret *
secret_str(const char *s)
{
    struct tv_error err = { 0 };
    struct tv_secret *out = NULL;

    assert_int_equal(tv_secret_dup(&out, s, strlen(s), &err), TV_OK);
    return out;
}

static unsigned char *
read_file(const char *path, size_t *len)
{
    unsigned char *buf;
    FILE *fp = fopen(path, "rb");
    long n;

    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

/* A wrong passphrase is TV_EUNLOCK, leaves the vault locked and the file
 * byte for byte as it was. */
static void
test_passphrase_slot(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *pass = secret_str("correct horse battery staple");
    struct tv_secret *wrong = secret_str("correct horse battery stapler");
    struct tv_secret *val = NULL;
    struct tv_cred c = { TV_CRED_PASSPHRASE, pass, TV_KDF_INTERACTIVE };
    struct tv_cred w = { TV_CRED_PASSPHRASE, wrong, TV_KDF_INTERACTIVE };
    unsigned char *before, *after;
    size_t blen, alen;
    char data[400];

    (void)state;
    fixture_new(&f);
    assert_int_equal(tv_vault_init(f.vault, &c, 1, "t", &err), TV_OK);
    snprintf(data, sizeof(data), "%s/data.mdb", f.vault);
    before = read_file(data, &blen);

    assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
    assert_int_equal(tv_vault_unlock(f.v, &w, &err), TV_EUNLOCK);
    assert_non_null(strstr(err.msg, "passphrase"));
    assert_int_equal(tv_vault_get(f.v, "svc", "X", 0, &val, NULL, &err),
                     TV_EUNLOCK);
    assert_int_equal(tv_vault_unlock(f.v, &f.cred, &err), TV_EUNLOCK);
    fixture_close_vault(&f);
    after = read_file(data, &alen);
    assert_int_equal(alen, blen);
    assert_memory_equal(before, after, blen);

    assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
    assert_int_equal(tv_vault_unlock(f.v, &c, &err), TV_OK);
    put_str(f.v, "svc", "X", "core", "v");
    free(before);
    free(after);
    tv_secret_free(pass);
    tv_secret_free(wrong);
    fixture_free(&f);
}

struct slot_list {
    struct tv_slot_info s[8];
    int n;
};

static int
collect_slot(const struct tv_slot_info *s, void *ctx)
{
    struct slot_list *l = ctx;

    if (l->n < 8)
        l->s[l->n++] = *s;
    return 0;
}

static void
test_keyfile_slots(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *k2 = NULL, *k3 = NULL;
    struct tv_cred c2 = { TV_CRED_KEYFILE, NULL, 0 };
    struct tv_cred c3 = { TV_CRED_KEYFILE, NULL, 0 };
    struct slot_list l = { 0 };
    char path2[320], path3[320];
    uint32_t id = 0;

    (void)state;
    fixture_vault(&f);
    snprintf(path2, sizeof(path2), "%s/key2", f.root);
    snprintf(path3, sizeof(path3), "%s/key3", f.root);
    assert_int_equal(tv_keyfile_create(path2, &k2, &err), TV_OK);
    assert_int_equal(tv_keyfile_create(path3, &k3, &err), TV_OK);
    c2.secret = k2;
    c3.secret = k3;
    assert_int_equal(tv_vault_slot_add(f.v, &c2, &id, &err), TV_OK);
    assert_int_equal(id, 2);
    assert_int_equal(tv_vault_slot_add(f.v, &c2, &id, &err), TV_EEXIST);
    assert_int_equal(tv_vault_slots(f.v, collect_slot, &l, &err), TV_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.s[0].id, 1);
    assert_int_equal(l.s[1].kind, TV_CRED_KEYFILE);
    assert_int_equal(strlen(l.s[1].key_id), TV_FP_HEXLEN);
    assert_string_not_equal(l.s[0].key_id, l.s[1].key_id);
    put_str(f.v, "svc", "A", "core", "value-a");
    fixture_close_vault(&f);

    /* the second key file opens the same vault; a third does not */
    assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
    assert_int_equal(tv_vault_unlock(f.v, &c3, &err), TV_EUNLOCK);
    assert_non_null(strstr(err.msg, "key file"));
    assert_int_equal(tv_vault_unlock(f.v, &c2, &err), TV_OK);
    assert_int_equal(tv_vault_slot_rm(f.v, 1, &err), TV_OK);
    assert_int_equal(tv_vault_slot_rm(f.v, 1, &err), TV_ENOTFOUND);
    assert_int_equal(tv_vault_slot_rm(f.v, 2, &err), TV_ELAST);
    assert_non_null(strstr(err.msg, "last keyslot"));
    fixture_close_vault(&f);

    assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
    assert_int_equal(tv_vault_unlock(f.v, &f.cred, &err), TV_EUNLOCK);
    assert_int_equal(tv_vault_unlock(f.v, &c2, &err), TV_OK);
    /* ids are never reused */
    assert_int_equal(tv_vault_slot_add(f.v, &c3, &id, &err), TV_OK);
    assert_int_equal(id, 3);
    tv_secret_free(k2);
    tv_secret_free(k3);
    fixture_free(&f);
}

static void
test_passphrase_added_to_keyfile_vault(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *pass = secret_str("second credential");
    struct tv_secret *val = NULL;
    struct tv_cred c = { TV_CRED_PASSPHRASE, pass, TV_KDF_INTERACTIVE };
    struct slot_list l = { 0 };
    uint32_t id;

    (void)state;
    fixture_vault(&f);
    put_str(f.v, "svc", "A", "core", "value-a");
    assert_int_equal(tv_vault_slot_add(f.v, &c, &id, &err), TV_OK);
    fixture_close_vault(&f);
    assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
    assert_int_equal(tv_vault_unlock(f.v, &c, &err), TV_OK);
    assert_int_equal(tv_vault_get(f.v, "svc", "A", 0, &val, NULL, &err), TV_OK);
    assert_string_equal((char *)val->data, "value-a");
    assert_int_equal(tv_vault_slots(f.v, collect_slot, &l, &err), TV_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.s[1].kind, TV_CRED_PASSPHRASE);
    assert_int_equal(l.s[1].kdf, TV_KDF_INTERACTIVE);
    assert_int_equal(l.s[1].opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
    assert_int_equal(l.s[1].memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
    tv_secret_free(val);
    tv_secret_free(pass);
    fixture_free(&f);
}

static void
test_keyfile_load_refusals(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    struct tv_secret *k = NULL;
    char path[320], link[320];
    FILE *fp;

    (void)state;
    fixture_new(&f);
    assert_int_equal(tv_keyfile_load(f.keyfile, &k, &err), TV_OK);
    assert_memory_equal(k->data, f.key->data, TV_KEYFILE_LEN);
    tv_secret_free(k);
    assert_int_equal(tv_keyfile_create(f.keyfile, &k, &err), TV_EEXIST);

    snprintf(path, sizeof(path), "%s/missing", f.root);
    assert_int_equal(tv_keyfile_load(path, &k, &err), TV_ENOTFOUND);

    assert_int_equal(chmod(f.keyfile, 0640), 0);
    assert_int_equal(tv_keyfile_load(f.keyfile, &k, &err), TV_EPERM);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_int_equal(chmod(f.keyfile, 0600), 0);

    snprintf(link, sizeof(link), "%s/link", f.root);
    assert_int_equal(symlink(f.keyfile, link), 0);
    assert_int_equal(tv_keyfile_load(link, &k, &err), TV_EPERM);
    assert_non_null(strstr(err.msg, "symbolic link"));

    snprintf(path, sizeof(path), "%s/short", f.root);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("too short", fp);
    fclose(fp);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(tv_keyfile_load(path, &k, &err), TV_EFORMAT);
    assert_null(k);
    fixture_free(&f);
}

/* Altered slots: the matching key file says so; other fields are MAC'd. */
static void
test_altered_slot(void **state)
{
    struct fixture f;
    struct tv_error err = { 0 };
    unsigned char key[4] = { 0, 0, 0, 1 };
    unsigned char *rec, *orig;
    size_t len;

    (void)state;
    fixture_vault(&f);
    fixture_close_vault(&f);
    orig = raw_get(f.vault, "slots", key, 4, &len);
    assert_non_null(orig);
    rec = malloc(len);
    assert_non_null(rec);

    /* the wrapped key, right before the MAC */
    memcpy(rec, orig, len);
    rec[len - TV_MAC_LEN - 3] ^= 0x01;
    raw_put(f.vault, "slots", key, 4, rec, len);
    assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
    assert_int_equal(tv_vault_unlock(f.v, &f.cred, &err), TV_EINTEGRITY);
    assert_non_null(strstr(err.msg, "keyslot 1"));
    fixture_close_vault(&f);

    /* the creation time: unwraps, but the record MAC fails */
    memcpy(rec, orig, len);
    rec[1 + 2 + 8 + 8 + 7] ^= 0x01;
    raw_put(f.vault, "slots", key, 4, rec, len);
    assert_int_equal(tv_vault_open(&f.v, f.vault, &err), TV_OK);
    assert_int_equal(tv_vault_unlock(f.v, &f.cred, &err), TV_EINTEGRITY);
    assert_non_null(strstr(err.msg, "keyslot 1 was altered"));
    fixture_close_vault(&f);

    /* restored, it opens again */
    raw_put(f.vault, "slots", key, 4, orig, len);
    fixture_reopen(&f);
    free(rec);
    free(orig);
    fixture_free(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_memory),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_harden),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_now_override),
        cmocka_unit_test(test_wrap_unwrap),
        cmocka_unit_test(test_value_binding),
        cmocka_unit_test(test_passphrase_slot),
        cmocka_unit_test(test_keyfile_slots),
        cmocka_unit_test(test_passphrase_added_to_keyfile_vault),
        cmocka_unit_test(test_keyfile_load_refusals),
        cmocka_unit_test(test_altered_slot),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
