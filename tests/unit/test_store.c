/* test_store: the store and the directory rules over it, on a temporary data
 * directory: recipients, DNs, expansion with loops, group-committed delivery read
 * back byte for byte, single-instance blobs, expunge, and crash-tail recovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "directory/directory.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	store_t *store;
	int64_t alice, bob;
};

static int add(store_t *store, enum store_rcpt_kind kind, const char *local, const char *target,
	       int64_t *id_r)
{
	struct store_recipient r = { .kind = kind, .site_id = 1 };
	char *err = NULL;
	int rc;

	r.local_part = xstrdup(local);
	r.cn = xstrdup(local);
	r.domain = xstrdup("example.test");
	r.target = target ? xstrdup(target) : NULL;
	rc = store_recipient_add(store, &r, &err);
	if (id_r != NULL)
		*id_r = r.id;
	free(err);
	store_recipient_clear(&r);
	return rc;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char *err = NULL;
	int64_t org, site, team, inner;

	strcpy(f->dir, "/tmp/sealpost-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(store_open(f->dir, &f->store, &err), 0);
	assert_int_equal(store_org_create(f->store, "Example", &org), 0);
	assert_int_equal(store_site_create(f->store, "HQ", &site), 0);
	assert_int_equal(store_domain_add(f->store, "example.test", site), 0);
	assert_int_equal(add(f->store, STORE_RCPT_USER, "alice", NULL, &f->alice), 0);
	assert_int_equal(add(f->store, STORE_RCPT_USER, "bob", NULL, &f->bob), 0);
	assert_int_equal(add(f->store, STORE_RCPT_ALIAS, "postmaster", "alice@example.test", NULL), 0);
	assert_int_equal(add(f->store, STORE_RCPT_GROUP, "team", NULL, &team), 0);
	assert_int_equal(add(f->store, STORE_RCPT_GROUP, "inner", NULL, &inner), 0);
	store_group_add_member(f->store, team, "alice@example.test");
	store_group_add_member(f->store, team, "inner@example.test");
	store_group_add_member(f->store, team, "partner@remote.test");
	store_group_add_member(f->store, inner, "bob@example.test");
	store_group_add_member(f->store, inner, "team@example.test"); /* a loop */
	store_group_add_member(f->store, inner, "gone@example.test"); /* stale member */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = xasprintf("rm -rf %s", f->dir);

	store_close(&f->store);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
	return 0;
}

static void test_dn_forms(void **state)
{
	struct fixture *f = *state;
	struct store_recipient r = { 0 };
	char *org, *site, *cn;

	assert_int_equal(directory_dn_parse("/o=Example/ou=HQ/cn=Recipients/cn=alice", &org, &site, &cn), 0);
	assert_string_equal(org, "Example");
	assert_string_equal(site, "HQ");
	assert_string_equal(cn, "alice");
	free(org), free(site), free(cn);
	assert_int_equal(directory_dn_parse("cn=bob, cn=Recipients, ou=HQ, o=Example", &org, &site, &cn), 0);
	assert_string_equal(cn, "bob");
	free(org), free(site), free(cn);
	assert_int_equal(directory_dn_parse("/o=Example/ou=HQ/cn=Other/cn=alice", &org, &site, &cn), -1);
	assert_int_equal(directory_dn_parse("cn=a\\,b,cn=Recipients,ou=HQ,o=Example", &org, &site, &cn), -1);
	assert_int_equal(directory_resolve(f->store, "/O=example/OU=hq/CN=recipients/CN=ALICE", &r), 1);
	assert_int_equal(r.id, f->alice);
	store_recipient_clear(&r);
	assert_int_equal(directory_resolve(f->store, "cn=bob,cn=Recipients,ou=HQ,o=Other", &r), 0);
	assert_int_equal(directory_resolve(f->store, "Alice+news@EXAMPLE.test", &r), 1);
	assert_int_equal(r.id, f->alice);
	store_recipient_clear(&r);
}

static void test_expansion(void **state)
{
	struct fixture *f = *state;
	struct directory_expansion exp = { 0 };

	assert_int_equal(directory_expand(f->store, "team@example.test", &exp), DIRECTORY_EXPAND_OK);
	assert_int_equal(directory_expand(f->store, "postmaster@example.test", &exp), DIRECTORY_EXPAND_OK);
	assert_int_equal(directory_expand(f->store, "friend@Remote.test", &exp), DIRECTORY_EXPAND_OK);
	assert_int_equal(exp.user_count, 2); /* alice once, however reached; bob */
	assert_int_equal(exp.remote_count, 2);
	assert_string_equal(exp.remote[0], "partner@remote.test");
	assert_int_equal(directory_expand(f->store, "nobody@example.test", &exp), DIRECTORY_EXPAND_UNKNOWN);
	directory_expansion_free(&exp);
}

static void test_passwords(void **state)
{
	struct fixture *f = *state;
	struct store_recipient r = { 0 };
	char *hash = directory_password_hash("correct horse");

	assert_int_equal(store_recipient_set_password(f->store, f->bob, hash), 0);
	assert_int_equal(directory_authenticate(f->store, "bob@example.test", "correct horse", &r), 1);
	store_recipient_clear(&r);
	assert_int_equal(directory_authenticate(f->store, "bob@example.test", "wrong", &r), 0);
	assert_int_equal(directory_authenticate(f->store, "ghost@example.test", "x", &r), 0);
	assert_int_equal(directory_authenticate(f->store, "team@example.test", "x", &r), 0);
	free(hash);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending, failures;
};

static void job_done(void *arg, int ok)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->pending--;
	w->failures += !ok;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

struct delivery_job {
	struct store_delivery d;
	struct waiter *w;
};

static int deliver_job(store_tx_t *tx, void *arg)
{
	return store_tx_deliver(tx, &((struct delivery_job *)arg)->d);
}

static void deliver_done(void *arg, int ok)
{
	job_done(((struct delivery_job *)arg)->w, ok);
}

static void wait_all(struct waiter *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->pending > 0)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static void deliver_many(struct fixture *f, const char *const *bodies, size_t n)
{
	store_writer_t *w = NULL;
	char *err = NULL;
	struct waiter wt = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct delivery_job *d = xcalloc(n, sizeof(*d));
	char (*ids)[33] = xcalloc(n, 33);
	int64_t users[2] = { f->alice, f->bob };

	assert_int_equal(store_writer_start(f->dir, &w, &err), 0);
	wt.pending = (int)n;
	for (size_t i = 0; i < n; i++) {
		id_random_hex(ids[i], 16);
		d[i].d = (struct store_delivery){ .bytes = bodies[i], .len = strlen(bodies[i]),
						  .msgid = ids[i], .sender = "s@remote.test",
						  .user_ids = users, .user_count = 2 };
		d[i].w = &wt;
		store_writer_submit(w, deliver_job, deliver_done, &d[i]);
	}
	wait_all(&wt);
	assert_int_equal(wt.failures, 0);
	store_writer_stop(&w);
	free(d);
	free(ids);
}

static void read_inbox(struct fixture *f, int64_t owner, struct store_message_ref **refs, size_t *n)
{
	struct store_mailbox mb = { 0 };

	assert_int_equal(store_mailbox_by_name(f->store, owner, "INBOX", &mb), 1);
	assert_int_equal(store_mailbox_messages(f->store, mb.id, refs, n), 0);
	store_mailbox_clear(&mb);
}

static void test_delivery_roundtrip_and_single_instance(void **state)
{
	struct fixture *f = *state;
	static const char *const bodies[] = { "Subject: one\r\n\r\nfirst\r\n",
					      "Subject: two\r\n\r\nsecond\r\n",
					      "Subject: one\r\n\r\nfirst\r\n" };
	struct store_message_ref *refs;
	size_t n;
	char buf[64];
	struct stat st;
	char *seg = xasprintf("%s/blobs/00000001.seg", f->dir);

	deliver_many(f, bodies, 3);
	read_inbox(f, f->bob, &refs, &n);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(refs[i].uid, i + 1);
		ssize_t got = store_message_read(f->store, &refs[i], 0, buf, sizeof(buf));
		assert_int_equal(got, strlen(bodies[i]));
		assert_memory_equal(buf, bodies[i], (size_t)got);
	}
	/* Two recipients and a repeated message: the segment holds each distinct body once. */
	assert_int_equal(stat(seg, &st), 0);
	assert_int_equal(st.st_size, strlen(bodies[0]) + strlen(bodies[1]));
	/* Expunging bob's first message leaves alice's copy readable. */
	free(refs);
	free(seg);
}

static int64_t expunge_mailbox;

static int expunge_first(store_tx_t *tx, void *arg)
{
	uint32_t uid = 1;

	return store_tx_expunge(tx, expunge_mailbox, &uid, 1);
}

static void test_expunge_and_crash_tail(void **state)
{
	struct fixture *f = *state;
	static const char *const bodies[] = { "Subject: a\r\n\r\nA\r\n" };
	struct store_message_ref *refs;
	struct store_mailbox mb = { 0 };
	store_writer_t *w = NULL;
	char *err = NULL, *seg = xasprintf("%s/blobs/00000001.seg", f->dir);
	static struct waiter wt = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 1, 0 };
	size_t n;
	int fd;

	deliver_many(f, bodies, 1);
	/* A batch that crashed after writing its bytes but before COMMIT. */
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "GARBAGE", 7), 7);
	close(fd);
	deliver_many(f, (const char *const[]){ "Subject: b\r\n\r\nB\r\n" }, 1);
	read_inbox(f, f->alice, &refs, &n);
	assert_int_equal(n, 2);
	char buf[32];
	ssize_t got = store_message_read(f->store, &refs[1], 0, buf, sizeof(buf));
	assert_int_equal(got, 17);
	assert_memory_equal(buf, "Subject: b\r\n\r\nB\r\n", 17);
	free(refs);

	assert_int_equal(store_mailbox_by_name(f->store, f->bob, "INBOX", &mb), 1);
	assert_int_equal(store_writer_start(f->dir, &w, &err), 0);
	expunge_mailbox = mb.id;
	store_writer_submit(w, expunge_first, job_done, &wt);
	wait_all(&wt);
	store_writer_stop(&w);
	read_inbox(f, f->bob, &refs, &n);
	assert_int_equal(n, 1);
	assert_int_equal(refs[0].uid, 2);
	free(refs);
	read_inbox(f, f->alice, &refs, &n);
	assert_int_equal(n, 2);
	free(refs);
	store_mailbox_clear(&mb);
	free(seg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dn_forms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expansion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_passwords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_roundtrip_and_single_instance, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_and_crash_tail, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
