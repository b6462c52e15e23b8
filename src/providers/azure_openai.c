/*
 * providers/azure_openai.c — Chat Completions on Azure OpenAI:
 * openai_chat.c's request and stream parser (openai_stream.h), with
 * Azure's URL, key header and deployment names.
 *
 * base_url is the resource endpoint (https://RESOURCE.openai.azure.com,
 * with or without "/openai"); the deployment (the model's upstream name)
 * goes in the path with ?api-version=, unless api_version is "v1" (the v1
 * API, which takes the model in the body).  The config checks that
 * deployment names (check_model) and api_version need no escaping.
 */
#include <string.h>

#include "config.h"
#include "openai_stream.h"
#include "provider.h"
#include "request.h"

#define AUTH_HEADER "api-key: "

/* Azure OpenAI's latest GA data-plane inference version. */
#define API_VERSION "2024-10-21"

/* The characters of a deployment name, which goes into the URL as is. */
#define DEPLOYMENT_CHARS \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

static enum cs_err
az_build(const struct cs_upstream_cfg *up, const struct cs_chat_request *req,
    struct cs_http_request *hr)
{
	const char *base = up->base_url_eff;
	size_t n = strlen(base);
	enum cs_err r;

	/* Accept the endpoint with or without its "/openai" path. */
	if (n >= 7 && strcmp(base + n - 7, "/openai") == 0)
		n -= 7;
	if (strcmp(up->api_version, "v1") == 0)
		r = cs_buf_printf(
		    &hr->url, "%.*s/openai/v1/chat/completions", (int)n, base);
	else
		r = cs_buf_printf(&hr->url,
		    "%.*s/openai/deployments/%s/chat/"
		    "completions?api-version=%s",
		    (int)n, base, cs_request_wire_model(req), up->api_version);
	if (r != CS_OK)
		return r;
	return cs_openai_chat_request(up, req, hr, AUTH_HEADER);
}

/* Azure OpenAI knows the "developer" role; api_version defaults to the
 * latest GA one. */
static void
az_resolve(struct cs_upstream_cfg *up)
{
	up->developer_role = 1;
	if (up->api_version[0] == '\0')
		memcpy(up->api_version, API_VERSION, sizeof(API_VERSION));
}

static const char *
az_check_model(const struct cs_upstream_cfg *up, const char *wire)
{
	if (strcmp(up->api_version, "v1") == 0 ||
	    strspn(wire, DEPLOYMENT_CHARS) == strlen(wire))
		return NULL;
	return "is not an Azure deployment name (A-Z a-z 0-9 . _ -)";
}

const struct cs_provider cs_provider_azure_openai = {
	.name = "azure-openai",
	.base_url_env = "AZURE_OPENAI_ENDPOINT",
	.key_env = "AZURE_OPENAI_API_KEY",
	.model = "gpt-4o-mini",
	.auth_header = AUTH_HEADER,
	.resolve = az_resolve,
	.check_model = az_check_model,
	.build = az_build,
	.adapter = &cs_sse_adapter,
	.sse = &cs_openai_sse,
};
