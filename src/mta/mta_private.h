/* mta_private: the pipeline's state, shared by its files (mta.c, mta_policy.c). */
#ifndef SEALPOST_MTA_PRIVATE_H
#define SEALPOST_MTA_PRIVATE_H

#include "mta.h"

/* A count over a time window (messages of a sender, failed logins of a client). */
struct mta_counter {
	char *key;
	int64_t since;
	long long count;
	struct mta_counter *next;
};
struct mta_counters {
	struct mta_counter **buckets;
	size_t count;
};
void mta_policy_counters_free(struct mta_counters *t);

struct mta_policy_state {
	long long base[16]; /* the settable parameters as sealpost.conf gave them */
	net_timer_t *timer;
	struct mta_counters senders, logins;
};

struct mta {
	net_loop_t *loop;
	store_t *store;
	store_writer_t *writer;
	net_dns_t *dns;
	char *hostname;
	void (*queue_hook)(void *arg);
	void *queue_hook_arg;
	struct mta_policy_state policy;
};

#endif
