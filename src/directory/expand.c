/* expand: turns one recipient address into mailbox owners and remote addresses,
 * following aliases and nested lists. Each recipient is visited once, so a list
 * that contains itself (directly or not) ends instead of looping; depth is capped. */
#include <stdlib.h>
#include <string.h>

#include "directory.h"

struct expand_ctx {
	store_t *store;
	struct directory_expansion *exp;
	int64_t *visited;
	size_t visited_count;
	int depth;
	enum directory_expand_result result;
};

static void expand_address(struct expand_ctx *ctx, const char *address);

static bool visited_add(struct expand_ctx *ctx, int64_t id)
{
	for (size_t i = 0; i < ctx->visited_count; i++)
		if (ctx->visited[i] == id)
			return false;
	ctx->visited = xrealloc(ctx->visited, (ctx->visited_count + 1) * sizeof(int64_t));
	ctx->visited[ctx->visited_count++] = id;
	return true;
}

static void add_user(struct directory_expansion *exp, int64_t id)
{
	for (size_t i = 0; i < exp->user_count; i++)
		if (exp->users[i] == id)
			return;
	exp->users = xrealloc(exp->users, (exp->user_count + 1) * sizeof(int64_t));
	exp->users[exp->user_count++] = id;
}

static void add_remote(struct directory_expansion *exp, const char *address)
{
	for (size_t i = 0; i < exp->remote_count; i++)
		if (str_ieq(exp->remote[i], address))
			return;
	exp->remote = xrealloc(exp->remote, (exp->remote_count + 1) * sizeof(char *));
	exp->remote[exp->remote_count++] = xstrdup(address);
}

static void expand_member(const char *address, void *arg)
{
	expand_address(arg, address);
}

static void expand_recipient(struct expand_ctx *ctx, const struct store_recipient *r)
{
	if (!visited_add(ctx, r->id))
		return; /* seen already: a duplicate, or a loop */
	switch (r->kind) {
	case STORE_RCPT_USER:
		add_user(ctx->exp, r->id);
		break;
	case STORE_RCPT_ALIAS:
		if (r->target != NULL)
			expand_address(ctx, r->target);
		break;
	case STORE_RCPT_GROUP:
		if (store_group_members(ctx->store, r->id, expand_member, ctx) < 0)
			ctx->result = DIRECTORY_EXPAND_ERROR;
		break;
	}
}

static void expand_address(struct expand_ctx *ctx, const char *address)
{
	struct store_recipient r = { 0 };
	char *local = NULL, *domain = NULL;
	int rc;

	if (ctx->result != DIRECTORY_EXPAND_OK)
		return;
	if (++ctx->depth > param_get(P_GROUP_DEPTH_MAX)) {
		ctx->result = DIRECTORY_EXPAND_TOO_DEEP;
		goto out;
	}
	if (directory_address_split(address, &local, &domain) < 0) {
		ctx->result = DIRECTORY_EXPAND_UNKNOWN;
		goto out;
	}
	rc = store_domain_is_local(ctx->store, domain);
	if (rc == 0) {
		add_remote(ctx->exp, address);
	} else if (rc < 0 || (rc = directory_resolve(ctx->store, address, &r)) < 0) {
		ctx->result = DIRECTORY_EXPAND_ERROR;
	} else if (rc == 0) {
		/* The first address is checked at RCPT; a dead member deeper down is
		 * skipped so one stale entry does not bounce a whole list. */
		if (ctx->depth == 1)
			ctx->result = DIRECTORY_EXPAND_UNKNOWN;
		else
			log_warnx("directory: list member unknown address=%s", address);
	} else {
		expand_recipient(ctx, &r);
	}
out:
	ctx->depth--;
	store_recipient_clear(&r);
	free(local);
	free(domain);
}

enum directory_expand_result directory_expand(store_t *store, const char *address,
					      struct directory_expansion *exp)
{
	struct expand_ctx ctx = { .store = store, .exp = exp, .result = DIRECTORY_EXPAND_OK };

	expand_address(&ctx, address);
	free(ctx.visited);
	return ctx.result;
}

void directory_expansion_free(struct directory_expansion *exp)
{
	for (size_t i = 0; i < exp->remote_count; i++)
		free(exp->remote[i]);
	free(exp->remote);
	free(exp->users);
	memset(exp, 0, sizeof(*exp));
}
