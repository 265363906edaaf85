/* config: parses sealpost.conf, "key = value" lines with '#' comments.
 * Keys may repeat (listen = ...); order is kept. */
#include <stdlib.h>
#include <string.h>

#include "lib.h"

static void config_add(struct config *cfg, const char *key, const char *value)
{
	cfg->entries = xrealloc(cfg->entries, (cfg->count + 1) * sizeof(*cfg->entries));
	cfg->entries[cfg->count].key = xstrdup(key);
	cfg->entries[cfg->count].value = xstrdup(value);
	cfg->count++;
}

int config_parse(const char *text, struct config *cfg, char **err_r)
{
	char *copy = xstrdup(text), *line, *save = NULL, *eq;
	int lineno = 0;

	cfg->entries = NULL;
	cfg->count = 0;
	for (line = copy; line != NULL; line = save) {
		save = strchr(line, '\n');
		if (save != NULL)
			*save++ = '\0';
		lineno++;
		char *hash = strchr(line, '#');
		if (hash != NULL)
			*hash = '\0';
		line = str_trim(line);
		if (*line == '\0')
			continue;
		eq = strchr(line, '=');
		if (eq == NULL || eq == line) {
			*err_r = xasprintf("line %d: expected 'key = value'", lineno);
			free(copy);
			config_free(cfg);
			return -1;
		}
		*eq = '\0';
		config_add(cfg, str_trim(line), str_trim(eq + 1));
	}
	free(copy);
	return 0;
}

int config_load(const char *path, struct config *cfg, char **err_r)
{
	str_t text;
	int ret;

	str_init(&text);
	if (fs_read_all(path, &text) < 0) {
		*err_r = xasprintf("cannot read %s", path);
		str_free(&text);
		return -1;
	}
	ret = config_parse(text.data ? text.data : "", cfg, err_r);
	str_free(&text);
	return ret;
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->count; i++) {
		free(cfg->entries[i].key);
		free(cfg->entries[i].value);
	}
	free(cfg->entries);
	cfg->entries = NULL;
	cfg->count = 0;
}

const char *config_get(const struct config *cfg, const char *key)
{
	const char *found = NULL;

	for (size_t i = 0; i < cfg->count; i++)
		if (strcmp(cfg->entries[i].key, key) == 0)
			found = cfg->entries[i].value;
	return found;
}
