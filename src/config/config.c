/*
 * config.c — the configuration once read: resolution (environment, key
 * files, each provider's defaults, models tied to their upstreams) and the
 * lookups of config.h.  Reading the file is config_parse.c's job, the keys
 * and their types config_keys.c's; see config_int.h.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config_int.h"
#include "provider.h"


/* Bytes that must not reach an HTTP header. */
static int
has_ctl(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 1;
	return 0;
}

/* Read, trim and check api_key_file into u->api_key. */
static enum cs_err
read_key_file(struct cs_upstream_cfg *cfg, char *err, size_t errlen)
{
	const char *path = cfg->api_key_file;
	const struct pos at = { NULL, 0, err, errlen };
	char buf[CONF_MAX_KEYFILE + 1];
	enum cs_err rc = CS_ECONFIG;
	struct stat st;
	size_t len = 0, start = 0;
	ssize_t n;
	int fd;

	/* O_NONBLOCK: a FIFO given by mistake must not hang start-up. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		cfg_error(&at, "api_key_file %s: %s", path, strerror(errno));
		return CS_ECONFIG;
	}
	if (fstat(fd, &st) == -1) {
		cfg_error(&at, "api_key_file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_error(&at, "api_key_file %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077)
		fprintf(stderr,
		    "chatstream: warning: key file %s is %s by "
		    "group/others (mode %04o); chmod 600 it\n",
		    path, (st.st_mode & 044) ? "readable" : "accessible",
		    (unsigned)(st.st_mode & 07777));
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			cfg_error(
			    &at, "api_key_file %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONF_MAX_KEYFILE) {
		cfg_error(&at,
		    "api_key_file %s: key file is larger "
		    "than %d bytes",
		    path, CONF_MAX_KEYFILE);
		goto out;
	}
	while (len > 0 &&
	    (buf[len - 1] == ' ' || buf[len - 1] == '\t' ||
	        buf[len - 1] == '\r' || buf[len - 1] == '\n'))
		len--;
	while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	buf[len] = '\0';
	if (start == len) {
		cfg_error(&at, "api_key_file %s: key file is empty", path);
		goto out;
	}
	if (memchr(buf + start, '\0', len - start) != NULL ||
	    has_ctl(buf + start)) {
		cfg_error(&at,
		    "api_key_file %s: the key contains "
		    "control characters or line breaks",
		    path);
		goto out;
	}
	if ((cfg->api_key = strdup(buf + start)) == NULL) {
		cfg_error(&at, "api_key_file %s: %s", path, strerror(ENOMEM));
		rc = CS_ENOMEM;
		goto out;
	}
	cfg->key_source = "file";
	rc = CS_OK;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

/* Validate url and store it without trailing slashes as base_url_eff. */
static enum cs_err
set_base_url(struct cs_upstream_cfg *cfg, const char *url, const char *what,
    char *err, size_t errlen)
{
	const struct pos at = { NULL, 0, err, errlen };
	size_t n = strlen(url);

	/* Not echoed: an environment URL may carry credentials. */
	if (!cfg_url_ok(url)) {
		cfg_error(&at,
		    "%s must start with http:// or https:// "
		    "followed by a host",
		    what);
		return CS_ECONFIG;
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	if (n >= sizeof(cfg->base_url_buf)) {
		cfg_error(&at, "%s is too long (at most %zu bytes)", what,
		    sizeof(cfg->base_url_buf) - 1);
		return CS_ECONFIG;
	}
	memset(cfg->base_url_buf, 0, sizeof(cfg->base_url_buf));
	memcpy(cfg->base_url_buf, url, n);
	cfg->base_url_eff = cfg->base_url_buf;
	return CS_OK;
}

/* The key, base URL and provider of one upstream.  Errors name a
 * section's upstream as "[upstream NAME] (line N): ...". */
/* Is u's ca_file or ca_path set and unreadable?  msg says which. */
static int
trust_unreadable(const struct cs_upstream_cfg *u, char *msg, size_t len)
{
	if (u->ca_file[0] != '\0' && access(u->ca_file, R_OK) != 0)
		snprintf(msg, len, "ca_file %.400s: %s", u->ca_file,
		    strerror(errno));
	else if (u->ca_path[0] != '\0' && access(u->ca_path, R_OK | X_OK) != 0)
		snprintf(msg, len, "ca_path %.400s: %s", u->ca_path,
		    strerror(errno));
	else
		return 0;
	return 1;
}

static enum cs_err
resolve_upstream(struct cs_upstream_cfg *u, char *err, size_t errlen)
{
	/* auto, and a local provider, read what auto's remote one reads. */
	const struct cs_provider *pd = u->provider != NULL &&
	        u->provider->build != NULL ?
	    u->provider :
	    cs_provider_find(AUTO_REMOTE);
	const struct pos at = { NULL, 0, err, errlen };
	const char *env, *key_env = u->api_key_env;
	char where[CS_MAX_NAME + 48], msg[512];
	enum cs_err rc = CS_ECONFIG;
	int explicit_url = 0;

	where[0] = '\0';
	if (u->line > 0)
		snprintf(where, sizeof(where),
		    "[upstream %s] (line %zu): ", u->name, u->line);
	msg[0] = '\0';
	u->key_source = "none";

	/* The default OPENAI_API_KEY means "the provider's usual variable". */
	if (strcmp(key_env, "OPENAI_API_KEY") == 0)
		key_env = pd->key_env;
	if (u->api_key_file[0] != '\0') {
		if ((rc = read_key_file(u, msg, sizeof(msg))) != CS_OK)
			goto out;
	} else if (key_env != NULL && key_env[0] != '\0' &&
	    (env = getenv(key_env)) != NULL && *env != '\0') {
		if (has_ctl(env)) {
			snprintf(msg, sizeof(msg),
			    "the key in $%s contains "
			    "control characters or line breaks",
			    key_env);
			goto out;
		}
		if ((u->api_key = strdup(env)) == NULL) {
			snprintf(msg, sizeof(msg), "%s", strerror(ENOMEM));
			rc = CS_ENOMEM;
			goto out;
		}
		u->key_source = "env";
	}

	if (u->base_url[0] != '\0') {
		if ((rc = set_base_url(u, u->base_url, "base_url", msg,
		         sizeof(msg))) != CS_OK)
			goto out;
		explicit_url = 1;
	} else if (pd->base_url_env != NULL &&
	    (env = getenv(pd->base_url_env)) != NULL && *env != '\0') {
		if ((rc = set_base_url(
		         u, env, pd->base_url_env, msg, sizeof(msg))) != CS_OK)
			goto out;
		explicit_url = 1;
	} else if (pd->base_url != NULL)
		u->base_url_eff = pd->base_url;
	else {
		snprintf(msg, sizeof(msg),
		    "provider %s needs base_url (or "
		    "$%s), e.g. https://RESOURCE.openai.azure.com",
		    pd->name, pd->base_url_env);
		rc = CS_ECONFIG;
		goto out;
	}

	/* The trust a TLS connection will need: readable now, not at the
	 * first chat. */
	if (trust_unreadable(u, msg, sizeof(msg))) {
		rc = CS_ECONFIG;
		goto out;
	}
	if (u->provider == NULL)
		/* A URL alone counts: local servers often need no key. */
		u->provider_eff = cs_provider_find(
		    u->api_key != NULL || explicit_url ? AUTO_REMOTE :
		                                         AUTO_LOCAL);
	else
		u->provider_eff = u->provider;
	u->developer_role = 0;
	if (u->provider_eff->resolve != NULL)
		u->provider_eff->resolve(u);
	rc = CS_OK;
out:
	if (rc != CS_OK)
		cfg_error(&at, "%s%s", where, msg);
	return rc;
}

/* Tie model m to its upstreams (route.h). */
static enum cs_err
resolve_model(
    struct cs_config *cfg, struct cs_model_cfg *m, char *err, size_t errlen)
{
	const struct pos at = { NULL, 0, err, errlen };
	const struct cs_deploy *d;
	const char *why;
	enum cs_err rc;
	size_t i;

	if ((rc = cs_route_resolve(cfg, m, err, errlen)) != CS_OK)
		return rc;
	/* The cost cap: a model without its own max_tokens gets
	 * max_tokens_cap, as its limit and as what is sent by default. */
	if (m->max_tokens == 0)
		m->max_tokens = cfg->max_tokens_cap;
	/* The provider's own rule, e.g. Azure's deployment names. */
	for (i = 0; i < m->route.n; i++) {
		d = &m->route.d[i];
		if (d->up->provider_eff->check_model != NULL &&
		    (why = d->up->provider_eff->check_model(d->up, d->model)) !=
		        NULL) {
			cfg_error(
			    &at, "model %s: \"%s\" %s", m->name, d->model, why);
			return CS_ECONFIG;
		}
	}
	return CS_OK;
}

/* A key's permissions, and its models list as a mask of cfg->models. */
static enum cs_err
resolve_key_models(struct cs_config *cfg, struct cs_key_cfg *k,
    const char *name, char *err, size_t errlen)
{
	const struct pos at = { NULL, 0, err, errlen };
	const char *v = k->models;
	size_t n, i;

	_Static_assert(CS_MAX_MODELS <= sizeof(unsigned long) * 8,
	    "models_mask has a bit per model");
	/* Checked by its row; unset, a key is for chatting. */
	if (k->permissions[0] == '\0' ||
	    cfg_parse_perms(k->permissions, &k->perms) != 0)
		k->perms = CS_PERM_CHAT;
	if (*v == '\0') {
		k->models_mask = ~0UL;
		return CS_OK;
	}
	k->models_mask = 0;
	for (v += strspn(v, " \t"); *v != '\0'; v += strspn(v, " \t")) {
		n = strcspn(v, " \t");
		for (i = 0; i < cfg->n_models; i++)
			if (strlen(cfg->models[i].name) == n &&
			    memcmp(cfg->models[i].name, v, n) == 0)
				break;
		if (i == cfg->n_models) {
			cfg_error(&at,
			    "[key %s] (line %zu): models: \"%.*s\" is "
			    "not one of the configured models",
			    name, k->line, (int)(n > 80 ? 80 : n), v);
			return CS_ECONFIG;
		}
		k->models_mask |= 1UL << i;
		v += n;
	}
	return CS_OK;
}

static int
limits_set(const struct cs_limits *l)
{
	return l->rpm > 0 || l->concurrent > 0 || l->tokens_per_day > 0;
}

/* The admission settings: keys, identity, proxies, store, and whether
 * admission runs at all. */
static enum cs_err
resolve_admission(struct cs_config *cfg, char *err, size_t errlen)
{
	const struct pos at = { NULL, 0, err, errlen };
	struct cs_key_cfg *k;
	const char *name, *h;
	char why[256];
	size_t i, j, n;
	int on;

	if (cfg->state[0] == '\0')
		memcpy(cfg->state, "memory", sizeof("memory"));
	cfg->state_fail_open = strcmp(cfg->state_fail, "open") == 0;
	cfg->api_v1_key = strcmp(cfg->api_v1_auth, "key") == 0;
	if (cs_cidr_parse_list(cfg->trusted_proxies_text, &cfg->trusted_proxies,
	        why, sizeof(why)) != CS_OK) {
		cfg_error(&at, "trusted_proxies: %s", why);
		return CS_ECONFIG;
	}
	memset(cfg->id_param, 0, sizeof(cfg->id_param));
	if (strcmp(cfg->client_id, "remote_user") == 0)
		cfg->id_mode = CS_ID_REMOTE_USER;
	else if (strcmp(cfg->client_id, "key") == 0)
		cfg->id_mode = CS_ID_KEY;
	else if (strncmp(cfg->client_id, "header:", 7) == 0) {
		/* The CGI name of a header: HTTP_, upper case, - is _. */
		cfg->id_mode = CS_ID_HEADER;
		memcpy(cfg->id_param, "HTTP_", 5);
		for (h = cfg->client_id + 7, n = 5;
		     *h != '\0' && n + 1 < sizeof(cfg->id_param); h++)
			cfg->id_param[n++] = *h == '-' ? '_' :
			    (*h >= 'a' && *h <= 'z')   ? (char)(*h - 32) :
			                                 *h;
	} else
		cfg->id_mode = CS_ID_IP;
	if (cfg->id_mode == CS_ID_KEY && cfg->n_keys == 0) {
		cfg_error(&at,
		    "client_id = key needs at least one [key NAME] "
		    "section");
		return CS_ECONFIG;
	}

	on = limits_set(&cfg->lim) || cfg->global_tokens_per_day > 0 ||
	    cfg->n_keys > 0;
	for (i = 0; i < cfg->n_models; i++)
		on |= limits_set(&cfg->models[i].lim);
	/* Something to count (and a store to count it in), or only the
	 * door of /api/v1 to keep shut. */
	cfg->counted = on;
	on |= cfg->api_v1_key;
	for (i = 0; i < cfg->n_keys; i++) {
		k = &cfg->keys[i];
		name = cfg->access_keys[i].name;
		if (k->secret_sha256[0] == '\0') {
			cfg_error(&at,
			    "[key %s] (line %zu): secret_sha256 is "
			    "required (chatstream --hash-key prints it)",
			    name, k->line);
			return CS_ECONFIG;
		}
		if (cs_key_parse_sha256(k->secret_sha256,
		        cfg->access_keys[i].sha256, why,
		        sizeof(why)) != CS_OK) {
			cfg_error(
			    &at, "[key %s] (line %zu): %s", name, k->line, why);
			return CS_ECONFIG;
		}
		for (j = 0; j < i; j++)
			if (memcmp(cfg->access_keys[j].sha256,
			        cfg->access_keys[i].sha256,
			        CS_SHA256_LEN) == 0) {
				cfg_error(&at,
				    "[key %s] (line %zu): the same "
				    "secret_sha256 as [key %s] (line %zu): "
				    "give every key its own secret",
				    name, k->line, cfg->access_keys[j].name,
				    cfg->keys[j].line);
				return CS_ECONFIG;
			}
		if (resolve_key_models(cfg, k, name, err, errlen) != CS_OK)
			return CS_ECONFIG;
	}
	cfg->admission = on;
	return CS_OK;
}

/* Unless out is set already: prefix, dir (dlen bytes), then name, into
 * out (len bytes).  0, or -1 when that does not fit (out left empty). */
static int
default_in(char *out, size_t len, const char *prefix, const char *dir,
    size_t dlen, const char *name)
{
	int n;

	if (out[0] != '\0')
		return 0;
	n = snprintf(out, len, "%s%.*s%s%s", prefix, (int)dlen, dir,
	    dlen == 1 && dir[0] == '/' ? "" : "/", name);
	if (n >= 0 && (size_t)n < len)
		return 0;
	memset(out, 0, len);
	return -1;
}

enum cs_err
cs_config_default_state(
    struct cs_config *cfg, const char *path, char *err, size_t errlen)
{
	const struct pos at = { NULL, 0, err, errlen };
	char *real = NULL, *slash;
	const char *dir = ".", *sd, *what = NULL;
	size_t dlen = 1;

	if (cfg->state[0] != '\0' && cfg->metrics_file[0] != '\0')
		return CS_OK;
	/* The directory a service manager made for this service (systemd's
	 * StateDirectory=, the first when it lists several), else the
	 * config file's, absolute: a FastCGI process may run elsewhere. */
	sd = getenv("STATE_DIRECTORY");
	if (sd != NULL && sd[0] == '/') {
		dir = sd;
		dlen = strcspn(sd, ":");
		while (dlen > 1 && dir[dlen - 1] == '/')
			dlen--;
	} else if (path == NULL)
		return CS_OK;
	else {
		real = realpath(path, NULL);
		if (real != NULL)
			path = real;
		if ((slash = strrchr(path, '/')) != NULL) {
			dir = slash == path ? "/" : path;
			dlen = slash == path ? 1 : (size_t)(slash - path);
		}
	}
	if (default_in(cfg->state, sizeof(cfg->state), "sqlite:", dir, dlen,
	        "chatstream-state.db") != 0)
		what = "state: the directory of the default store is too long; "
		       "set state = sqlite:PATH";
	else if (default_in(cfg->metrics_file, sizeof(cfg->metrics_file), "",
	             dir, dlen, "chatstream-metrics") != 0)
		what =
		    "metrics_file: the directory of the default is too long; "
		    "set metrics_file = PATH";
	free(real);
	if (what != NULL) {
		cfg_error(&at, "%s", what);
		return CS_ECONFIG;
	}
	return CS_OK;
}

enum cs_err
cs_config_resolve(struct cs_config *cfg, char *err, size_t errlen)
{
	const struct cs_upstream_cfg *u0 = &cfg->upstreams[0];
	const char *name;
	enum cs_err rc;
	size_t i;

	/* Resolving twice must not leak the first keys. */
	cs_config_free(cfg);
	for (i = 0; i < cfg->n_upstreams; i++)
		if ((rc = resolve_upstream(&cfg->upstreams[i], err, errlen)) !=
		    CS_OK)
			return rc;

	if (cfg->n_models == 0) {
		name = u0->provider_eff->model;
		model_init(&cfg->models[0], 0);
		memcpy(cfg->models[0].name, name, strlen(name));
		cfg->n_models = 1;
	}
	cfg->routed = 0;
	for (i = 0; i < cfg->n_models; i++) {
		if ((rc = resolve_model(cfg, &cfg->models[i], err, errlen)) !=
		    CS_OK)
			return rc;
		cfg->routed |= cfg->models[i].route.stateful;
	}
	if ((rc = resolve_admission(cfg, err, errlen)) != CS_OK)
		return rc;
	if (cfg->default_model[0] == '\0') {
		memcpy(cfg->default_model, cfg->models[0].name,
		    sizeof(cfg->default_model));
		return CS_OK;
	}
	for (i = 0; i < cfg->n_models; i++)
		if (strcmp(cfg->models[i].name, cfg->default_model) == 0)
			return CS_OK;
	cfg_error(&(const struct pos){ NULL, 0, err, errlen },
	    "default_model \"%.*s\" is not one of the "
	    "configured models",
	    80, cfg->default_model);
	return CS_ECONFIG;
}

const struct cs_model_cfg *
cs_config_model(const struct cs_config *cfg, const char *name)
{
	size_t i;

	if (cfg->n_models == 0)
		return NULL;
	if (name == NULL || *name == '\0') {
		if (cfg->default_model[0] == '\0')
			return &cfg->models[0];
		name = cfg->default_model;
	}
	for (i = 0; i < cfg->n_models; i++)
		if (strcmp(cfg->models[i].name, name) == 0)
			return &cfg->models[i];
	return NULL;
}

const struct cs_upstream_cfg *
cs_config_upstream(const struct cs_config *cfg, const char *name)
{
	size_t i;

	if (name == NULL || *name == '\0')
		name = "default";
	for (i = 0; i < cfg->n_upstreams; i++)
		if (strcmp(cfg->upstreams[i].name, name) == 0)
			return &cfg->upstreams[i];
	return NULL;
}

const char *
cs_model_wire_name(const struct cs_model_cfg *m)
{
	return m->upstream_model[0] != '\0' ? m->upstream_model : m->name;
}

const char *
cs_model_instructions(const struct cs_config *cfg, const struct cs_model_cfg *m)
{
	return m->has_instructions ? m->instructions : cfg->instructions;
}

int
cs_model_client_instructions(
    const struct cs_config *cfg, const struct cs_model_cfg *m)
{
	return m->has_client_instructions ? m->client_instructions :
	                                    cfg->client_instructions;
}

void
cs_config_free(struct cs_config *cfg)
{
	struct cs_upstream_cfg *u;
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_upstreams; i++) {
		u = &cfg->upstreams[i];
		if (u->api_key == NULL)
			continue;
		explicit_bzero(u->api_key, strlen(u->api_key));
		free(u->api_key);
		u->api_key = NULL;
	}
}
