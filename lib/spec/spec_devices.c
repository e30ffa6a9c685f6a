/* SPDX-License-Identifier: MIT */
/* The spec's "devices": each entry's spec-level keys (type, id, plugin,
 * console), and the configuration object handed to its type, with the path
 * keys a built-in type declares resolved against the spec's directory. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spec_internal.h"

/* Whether key names a host file for the built-in type bt. */
static bool path_key(const struct vmm__device_type *bt, const char *key)
{
    for (const char *const *k = bt ? bt->path_keys : NULL; k && *k; k++)
        if (strcmp(*k, key) == 0)
            return true;
    return false;
}

/* The device's own configuration: its entry without the spec-level keys,
 * the path keys of its built-in type (bt, or NULL) resolved against bd.
 * NULL without memory. */
static struct json_object *device_config(struct json_object *d, const struct vmm__device_type *bt,
                                         const char *bd)
{
    struct json_object *cfg = json_object_new_object();
    if (!cfg)
        return NULL;
    json_object_object_foreach(d, key, val)
    {
        if (!strcmp(key, "type") || !strcmp(key, "plugin") || !strcmp(key, "console"))
            continue;
        struct json_object *v = NULL;
        if (path_key(bt, key) && json_object_is_type(val, json_type_string)) {
            char *full = vmm__spec_resolve(bd, json_object_get_string(val));
            v = full ? json_object_new_string(full) : NULL;
            free(full);
        } else {
            v = json_object_get(val);
        }
        if (!v || json_object_object_add(cfg, key, v) < 0) {
            json_object_put(v);
            json_object_put(cfg);
            return NULL;
        }
    }
    return cfg;
}

static bool serial_type(const char *t)
{
    return strcmp(t, "serial") == 0;
}

/* A spec names no host file descriptor: not with the keys any type would
 * take one with, nor with those a built-in type (bt, or NULL) declares. */
static int no_fd_keys(struct json_object *d, const char *p, const struct vmm__device_type *bt)
{
    char pk[VMM__SPEC_PATH_MAX];
    static const char *const fd_keys[] = {"fd", "out_fd", "in_fd"};
    for (size_t k = 0; k < VMM__ARRAY_LEN(fd_keys); k++)
        if (json_object_object_get_ex(d, fd_keys[k], NULL)) {
            vmm__spec_join(pk, p, fd_keys[k]);
            return vmm__spec_bad(pk, "file descriptors cannot be named in a spec (use \"console\", "
                                     "or \"backend\": \"stdio\")");
        }
    for (const char *const *k = bt ? bt->fd_keys : NULL; k && *k; k++)
        if (json_object_object_get_ex(d, *k, NULL)) {
            vmm__spec_join(pk, p, *k);
            return vmm__spec_bad(pk, "file descriptors cannot be named in a spec (%s)",
                                 bt->fd_hint);
        }
    return 0;
}

/* devices[i] (path p) into the next entry of s->devices; *console tells
 * whether an earlier device is the console. */
static int parse_device(struct json_object *d, const char *p, const char *bd, struct spec *s,
                        bool *console)
{
    char pk[VMM__SPEC_PATH_MAX];
    if (!json_object_is_type(d, json_type_object))
        return vmm__spec_bad(p, "must be an object, not %s", vmm__spec_type_name(d));
    struct spec_device *sd = &s->devices[s->ndevices++];
    const char *type, *id = NULL;
    int rc = vmm__spec_get_string(d, p, "type", 31, &type);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return vmm__spec_bad(p, "missing \"type\"");
    if ((rc = vmm__spec_get_string(d, p, "id", 31, &id)) < 0 ||
        (rc = vmm__spec_get_file(d, p, "plugin", bd, &sd->plugin, NULL)) < 0 ||
        (rc = vmm__spec_get_bool(d, p, "console", &sd->console)) < 0)
        return rc;
    if (sd->console && (!serial_type(type) || *console)) {
        vmm__spec_join(pk, p, "console");
        return vmm__spec_bad(pk, !serial_type(type) ? "only a serial device can be the console"
                                                    : "only one device can be the console");
    }
    *console = *console || sd->console;
    const struct vmm__device_type *bt = vmm__builtin_named(type);
    if ((rc = no_fd_keys(d, p, bt)) < 0)
        return rc;
    for (size_t k = 0; id && k + 1 < s->ndevices; k++)
        if (s->devices[k].id && strcmp(s->devices[k].id, id) == 0) {
            vmm__spec_join(pk, p, "id");
            return vmm__spec_bad(pk, "duplicate id \"%s\" (also devices[%zu])", id, k);
        }
    sd->type = strdup(type);
    sd->id = id ? strdup(id) : NULL;
    if (!sd->type || (id && !sd->id) || !(sd->config = device_config(d, bt, bd)))
        return vmm__err(VMM_ENOMEM, "%s: out of memory", p);
    return 0;
}

int vmm__spec_parse_devices(struct json_object *root, const char *bd, struct spec *s)
{
    struct json_object *devs;
    if (!json_object_object_get_ex(root, "devices", &devs))
        return 0;
    if (!json_object_is_type(devs, json_type_array))
        return vmm__spec_bad("devices", "must be an array, not %s", vmm__spec_type_name(devs));
    size_t n = json_object_array_length(devs);
    if (n > SPEC_MAX_DEVICES)
        return vmm__spec_bad("devices", "at most %d devices", SPEC_MAX_DEVICES);
    bool console = false;
    for (size_t i = 0; i < n; i++) {
        char p[VMM__SPEC_PATH_MAX];
        snprintf(p, sizeof p, "devices[%zu]", i);
        int rc = parse_device(json_object_array_get_idx(devs, i), p, bd, s, &console);
        if (rc < 0)
            return rc;
    }
    /* A device without an id is called "<type><index>": no id may take that. */
    for (size_t i = 0; i < s->ndevices; i++) {
        if (s->devices[i].id)
            continue;
        char dflt[48];
        snprintf(dflt, sizeof dflt, "%s%zu", s->devices[i].type, i);
        for (size_t k = 0; k < s->ndevices; k++)
            if (s->devices[k].id && strcmp(s->devices[k].id, dflt) == 0) {
                char pk[VMM__SPEC_PATH_MAX];
                snprintf(pk, sizeof pk, "devices[%zu].id", k);
                return vmm__spec_bad(pk, "\"%s\" is the name devices[%zu] gets by default", dflt,
                                     i);
            }
    }
    return 0;
}
