/*
 * providers/registry.c — the table of providers (provider.h).  Each
 * provider's file exports its descriptor; this is the one list of them,
 * which the config ("provider = NAME", its defaults), --check-config, the
 * tests and the fuzz targets walk.
 */
#include <stddef.h>
#include <string.h>

#include "provider.h"

extern const struct cs_provider cs_provider_demo;
extern const struct cs_provider cs_provider_openai_chat;
extern const struct cs_provider cs_provider_openai_responses;
extern const struct cs_provider cs_provider_openai_completions;
extern const struct cs_provider cs_provider_anthropic;
extern const struct cs_provider cs_provider_ollama;
extern const struct cs_provider cs_provider_azure_openai;

const struct cs_provider *const cs_providers[] = { &cs_provider_demo,
	&cs_provider_openai_chat, &cs_provider_openai_responses,
	&cs_provider_openai_completions, &cs_provider_anthropic,
	&cs_provider_ollama, &cs_provider_azure_openai, NULL };

const struct cs_provider *
cs_provider_find(const char *name)
{
	size_t i;

	for (i = 0; cs_providers[i] != NULL; i++)
		if (strcmp(cs_providers[i]->name, name) == 0)
			return cs_providers[i];
	return NULL;
}
