/* cs.c — the project-wide error strings. */
#include "cs.h"

const char *
cs_strerror(enum cs_err e)
{
	switch (e) {
	case CS_OK:          return "success";
	case CS_ENOMEM:      return "out of memory";
	case CS_ETOOBIG:     return "size limit exceeded";
	case CS_EBADINPUT:   return "invalid input";
	case CS_ECLIENTGONE: return "client disconnected";
	case CS_EUPSTREAM:   return "upstream provider failed";
	case CS_ETIMEOUT:    return "timed out";
	case CS_ESHUTDOWN:   return "server shutting down";
	case CS_ESYS:        return "system error";
	case CS_ECONFIG:     return "configuration error";
	case CS_EDONE:       return "no more events";
	}
	return "unknown error";
}
