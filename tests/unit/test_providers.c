/*
 * test_providers.c — the provider table (provider.h, registry.c): every
 * descriptor is whole (a name, a default model, a request builder and a
 * stream adapter, or a local source), the names are unique and looked up
 * exactly, "provider = NAME" loads and resolves for every entry with the
 * entry's own defaults, and Azure OpenAI's descriptor keeps its URL, key
 * header and deployment-name rule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "config.h"
#include "provider.h"
#include "request.h"
#include "adapter_util.h"

static size_t
n_providers(void)
{
	size_t n = 0;

	while (cs_providers[n] != NULL)
		n++;
	return n;
}

static void
test_descriptors_whole(void **state)
{
	const struct cs_provider *p;
	size_t i, j;

	(void)state;
	assert_true(n_providers() > 0);
	for (i = 0; (p = cs_providers[i]) != NULL; i++) {
		assert_non_null(p->name);
		assert_true(p->name[0] != '\0');
		assert_non_null(p->model);
		assert_true(p->model[0] != '\0');
		if (p->build != NULL) {
			/* An HTTP provider: a whole adapter, a key header. */
			assert_non_null(p->adapter);
			assert_non_null(p->adapter->new);
			assert_non_null(p->adapter->feed);
			assert_non_null(p->adapter->end);
			assert_non_null(p->adapter->free);
			/* The generic SSE adapter needs the format. */
			if (p->adapter == &cs_sse_adapter) {
				assert_non_null(p->sse);
				assert_non_null(p->sse->on_event);
				assert_non_null(p->sse->truncated);
				assert_true(p->sse->size >=
				    sizeof(struct cs_adapter_base));
			}
			assert_non_null(p->auth_header);
			assert_null(p->source_new);
		} else {
			assert_non_null(p->source_new);
			assert_non_null(p->source);
			assert_null(p->adapter);
		}
		for (j = 0; j < i; j++)
			if (strcmp(cs_providers[j]->name, p->name) == 0)
				fail_msg("provider \"%s\" twice", p->name);
	}
}

static void
test_lookup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; cs_providers[i] != NULL; i++)
		assert_ptr_equal(
		    cs_provider_find(cs_providers[i]->name), cs_providers[i]);
	/* "auto" is the config's choice, not a provider. */
	assert_null(cs_provider_find("auto"));
	assert_null(cs_provider_find("Demo"));
	assert_null(cs_provider_find("openai"));
	assert_null(cs_provider_find(""));
	/* What auto picks from must be there. */
	assert_non_null(cs_provider_find("openai-chat"));
	assert_non_null(cs_provider_find("demo"));
}

static char conf_path[64];

/* Load text (written to conf_path) into c; CS_OK expected. */
static void
load_text(struct cs_config *c, const char *text)
{
	char err[512] = "";
	FILE *f;

	assert_non_null(f = fopen(conf_path, "w"));
	fputs(text, f);
	fclose(f);
	cs_config_defaults(c);
	if (cs_config_load(c, conf_path, err, sizeof(err)) != CS_OK)
		fail_msg("%s: %s", text, err);
}

/* No variable a provider reads may leak into the test. */
static void
clear_env(void)
{
	const struct cs_provider *p;
	size_t i;

	for (i = 0; (p = cs_providers[i]) != NULL; i++) {
		if (p->base_url_env != NULL)
			unsetenv(p->base_url_env);
		if (p->key_env != NULL)
			unsetenv(p->key_env);
	}
}

static void
test_config_accepts_every_entry(void **state)
{
	const struct cs_provider *p;
	struct cs_config c;
	char text[512], err[512];
	size_t i;

	(void)state;
	snprintf(conf_path, sizeof(conf_path), "/tmp/cs_test_prov.XXXXXX");
	close(mkstemp(conf_path));
	clear_env();
	for (i = 0; (p = cs_providers[i]) != NULL; i++) {
		/* A provider without a default URL needs one configured. */
		snprintf(text, sizeof(text), "provider = %s\n%s", p->name,
		    p->base_url == NULL ? "base_url = https://r.example\n" :
		                          "");
		load_text(&c, text);
		assert_ptr_equal(c.upstreams[0].provider, p);
		err[0] = '\0';
		if (cs_config_resolve(&c, err, sizeof(err)) != CS_OK)
			fail_msg("%s: %s", p->name, err);
		assert_ptr_equal(c.upstreams[0].provider_eff, p);
		assert_string_equal(c.models[0].name, p->model);
		if (p->base_url != NULL)
			assert_string_equal(
			    c.upstreams[0].base_url_eff, p->base_url);
		cs_config_free(&c);
	}
	unlink(conf_path);
}

/* The refusal lists auto and every provider, in the table's order. */
static void
test_config_lists_every_entry(void **state)
{
	struct cs_config c;
	char err[512] = "", want[512];
	size_t i, n;
	FILE *f;

	(void)state;
	snprintf(conf_path, sizeof(conf_path), "/tmp/cs_test_prov.XXXXXX");
	close(mkstemp(conf_path));
	assert_non_null(f = fopen(conf_path, "w"));
	fputs("provider = bedrock\n", f);
	fclose(f);
	cs_config_defaults(&c);
	assert_int_equal(
	    cs_config_load(&c, conf_path, err, sizeof(err)), CS_ECONFIG);
	n = (size_t)snprintf(want, sizeof(want), "is not one of auto");
	for (i = 0; cs_providers[i] != NULL; i++)
		n += (size_t)snprintf(
		    want + n, sizeof(want) - n, ", %s", cs_providers[i]->name);
	assert_true(n < sizeof(want));
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, want);
	cs_config_free(&c);
	unlink(conf_path);
}

/* Azure OpenAI: the deployment in the path with api-version, or the v1
 * API with the model in the body; its own key header. */
static void
test_azure_build(void **state)
{
	static const struct {
		const char *base, *version, *url;
	} cases[] = {
		{ "https://r.openai.azure.com", "2024-10-21",
		    "https://r.openai.azure.com/openai/deployments/gpt-4o/chat/"
		    "completions?api-version=2024-10-21" },
		{ "https://r.openai.azure.com/openai", "2024-10-21",
		    "https://r.openai.azure.com/openai/deployments/gpt-4o/chat/"
		    "completions?api-version=2024-10-21" },
		{ "https://r.openai.azure.com/openai", "v1",
		    "https://r.openai.azure.com/openai/v1/chat/completions" },
	};
	const struct cs_provider *p = provider_named("azure-openai");
	struct build_fixture f;
	struct cs_http_request hr;
	struct json_object *body;
	size_t i;

	(void)state;
	for (i = 0; i < CS_ARRAY_LEN(cases); i++) {
		build_fixture_init(&f);
		f.cfg.upstreams[0].base_url_eff = cases[i].base;
		snprintf(f.cfg.upstreams[0].api_version,
		    sizeof(f.cfg.upstreams[0].api_version), "%s",
		    cases[i].version);
		snprintf(f.key, sizeof(f.key), "az-key");
		f.cfg.upstreams[0].api_key = f.key;
		msg(&f, CS_ROLE_USER, "hi", NULL);
		body = build_json(p, &f, &hr);
		assert_string_equal(hr.url.data, cases[i].url);
		assert_string_equal(jstr(body, "model"), "gpt-4o");
		assert_true(has_header(hr.headers, "api-key: az-key"));
		assert_false(has_header_prefix(hr.headers, "Authorization:"));
		json_object_put(body);
		cs_http_request_free(&hr);
	}
}

/* Azure OpenAI's stop: "stop", as Chat Completions; openai-responses
 * and demo have none and say what to use instead (chat.c refuses). */
static void
test_stop_build(void **state)
{
	struct json_object *body;

	(void)state;
	body = option_build(provider_named("azure-openai"), "stop", "\"END\"");
	assert_json_at(body, "stop", "[\"END\"]");
	json_object_put(body);
	assert_non_null(provider_named("openai-responses")->no_stop);
	assert_non_null(provider_named("demo")->no_stop);
	assert_null(provider_named("openai-chat")->no_stop);
	assert_null(provider_named("anthropic")->no_stop);
	assert_null(provider_named("ollama")->no_stop);
}

/* Azure's resolve: the developer role, the GA api-version by default;
 * its model check: deployment names unless the v1 API. */
static void
test_azure_resolve_and_check(void **state)
{
	const struct cs_provider *p = provider_named("azure-openai");
	struct cs_upstream_cfg up;

	(void)state;
	memset(&up, 0, sizeof(up));
	up.base_url_eff = "https://r.example";
	p->resolve(&up);
	assert_int_equal(up.developer_role, 1);
	assert_string_equal(up.api_version, "2024-10-21");
	assert_null(p->check_model(&up, "gpt-4o_mini.2-x"));
	assert_non_null(p->check_model(&up, "gpt/4o"));
	assert_non_null(p->check_model(&up, "a b"));
	snprintf(up.api_version, sizeof(up.api_version), "v1");
	assert_null(p->check_model(&up, "gpt/4o"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptors_whole),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_config_accepts_every_entry),
		cmocka_unit_test(test_config_lists_every_entry),
		cmocka_unit_test(test_azure_build),
		cmocka_unit_test(test_stop_build),
		cmocka_unit_test(test_azure_resolve_and_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
