/* SPDX-License-Identifier: MIT */
/* Strict parsing of device configuration objects (JSON) for built-in types. */
#include <errno.h>
#include <stdlib.h>
#include <json-c/json.h>
#include <string.h>

#include "internal.h"

#define CONFIG_MAX_LEN   (64 * 1024)
#define CONFIG_MAX_DEPTH 32 /* as deep as the spec a config may come from */

int vmm__cfg_parse_text(vmm_device *dev, const char *json, struct json_object **out)
{
    *out = NULL;
    if (!json || !*json) {
        *out = json_object_new_object();
        return *out ? 0 : VMM_ENOMEM;
    }
    size_t len = strnlen(json, CONFIG_MAX_LEN + 1);
    if (len > CONFIG_MAX_LEN) {
        vmm_device_error(dev, "config longer than %d bytes", CONFIG_MAX_LEN);
        return VMM_ECONFIG;
    }
    size_t bad;
    if (vmm__json_check_utf8(json, len, &bad) < 0) {
        vmm_device_error(dev, "config: invalid UTF-8 at offset %zu", bad);
        return VMM_ECONFIG;
    }
    struct json_tokener *tok = json_tokener_new_ex(CONFIG_MAX_DEPTH);
    if (!tok)
        return VMM_ENOMEM;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    /* Include the terminating NUL so a bare number is complete, not "truncated". */
    struct json_object *o = json_tokener_parse_ex(tok, json, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = (size_t)json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!o || jerr != json_tokener_success) {
        json_object_put(o);
        vmm_device_error(dev, "config is not valid JSON: %s",
                         jerr == json_tokener_continue ? "truncated"
                                                       : json_tokener_error_desc(jerr));
        return VMM_ECONFIG;
    }
    for (; used < len; used++)
        if (!strchr(" \t\r\n", json[used])) {
            json_object_put(o);
            vmm_device_error(dev, "config has data after the JSON object");
            return VMM_ECONFIG;
        }
    char path[VMM__JSON_PATH_MAX], why[96];
    if (vmm__json_check(json, len, path, sizeof path, why, sizeof why) < 0) {
        json_object_put(o);
        vmm_device_error(dev, "config%s%s: %s", *path ? "." : "", path, why);
        return VMM_ECONFIG;
    }
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        vmm_device_error(dev, "config must be a JSON object");
        return VMM_ECONFIG;
    }
    *out = o;
    return 0;
}

int vmm__cfg_keys(vmm_device *dev, struct json_object *o, const char *const *allowed)
{
    json_object_object_foreach(o, key, val)
    {
        bool ok = strcmp(key, "id") == 0 || strcmp(key, "type") == 0;
        for (const char *const *a = allowed; !ok && a && *a; a++)
            ok = strcmp(key, *a) == 0;
        if (!ok) {
            vmm_device_error(dev, "config.%s: unknown key", key);
            return VMM_ECONFIG;
        }
        if (strcmp(key, "id") == 0) {
            bool is_string = json_object_is_type(val, json_type_string);
            const char *id = is_string ? json_object_get_string(val) : "";
            size_t n = is_string ? (size_t)json_object_get_string_len(val) : 0;
            if (!is_string || n == 0 || n >= sizeof dev->id || strlen(id) != n) {
                vmm_device_error(dev, "config.id: must be a string of 1-%zu characters",
                                 sizeof dev->id - 1);
                return VMM_ECONFIG;
            }
            memcpy(dev->id, id, n + 1);
        }
    }
    return 0;
}

/* A number written as a string: "123", "0x1f000" (strtoull base 0, so a leading
 * 0 means octal), optionally followed by K, M, G or T (powers of 1024).
 * 0, or -1 if it is not such a number, -2 if it overflows 64 bits. */
int vmm__parse_u64_text(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9') /* no sign, no leading white space */
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno == ERANGE)
        return -2;
    if (errno || end == s)
        return -1;
    unsigned int shift = 0;
    switch (*end) {
    case 'K':
        shift = 10;
        end++;
        break;
    case 'M':
        shift = 20;
        end++;
        break;
    case 'G':
        shift = 30;
        end++;
        break;
    case 'T':
        shift = 40;
        end++;
        break;
    default:
        break;
    }
    if (*end)
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -2;
    *out = (uint64_t)v << shift;
    return 0;
}

int vmm__cfg_u64(vmm_device *dev, struct json_object *o, const char *key, uint64_t min,
                 uint64_t max, uint64_t dflt, uint64_t *out)
{
    struct json_object *v;
    *out = dflt;
    if (!json_object_object_get_ex(o, key, &v))
        return 0;
    uint64_t u;
    if (json_object_is_type(v, json_type_string)) {
        int r = vmm__parse_u64_text(json_object_get_string(v), &u);
        if (r == -2) {
            vmm_device_error(dev, "config.%s: too large", key);
            return VMM_ECONFIG;
        }
        if (r < 0) {
            vmm_device_error(dev, "config.%s: \"%s\" is not a number", key,
                             json_object_get_string(v));
            return VMM_ECONFIG;
        }
    } else if (!json_object_is_type(v, json_type_int)) {
        vmm_device_error(dev, "config.%s: must be a number", key);
        return VMM_ECONFIG;
    } else {
        /* json-c keeps integers as int64 or uint64; negative and huge values
         * both land outside [min, max]. */
        errno = 0;
        int64_t si = json_object_get_int64(v);
        u = json_object_get_uint64(v);
        if (si < 0 || errno == ERANGE) {
            vmm_device_error(dev, "config.%s: must be in %llu..%llu", key, (unsigned long long)min,
                             (unsigned long long)max);
            return VMM_ECONFIG;
        }
    }
    if (u < min || u > max) {
        vmm_device_error(dev, "config.%s: must be in %llu..%llu", key, (unsigned long long)min,
                         (unsigned long long)max);
        return VMM_ECONFIG;
    }
    *out = u;
    return 1;
}

int vmm__cfg_place(vmm_device *dev, struct json_object *o, uint64_t default_port, uint64_t len,
                   vmm_space *space, uint64_t *base)
{
    uint64_t port, mmio;
    int has_port = vmm__cfg_u64(dev, o, "port", 0, 0x10000 - len, default_port, &port);
    if (has_port < 0)
        return VMM_ECONFIG;
    int has_mmio = vmm__cfg_u64(dev, o, "mmio", 0, UINT64_MAX - len + 1, 0, &mmio);
    if (has_mmio < 0)
        return VMM_ECONFIG;
    if (has_port && has_mmio) {
        vmm_device_error(dev, "config: give \"port\" or \"mmio\", not both");
        return VMM_ECONFIG;
    }
    *space = has_mmio ? VMM_SPACE_MMIO : VMM_SPACE_PIO;
    *base = has_mmio ? mmio : port;
    return 0;
}
