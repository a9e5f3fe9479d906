/*
 * SHIM_ENV_FILE: NAME=value lines ('#' comments, optional "export ", optional
 * quotes), read by settings.c before the environment.
 */
#include "shim.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct st_env_entry_t {
    char *name;
    char *value;
} env_entry_t;

static env_entry_t *file_env;
static size_t file_env_size;

void envfile_clear(void)
{
    size_t i;

    for (i = 0; i != file_env_size; ++i) {
        free(file_env[i].name);
        free(file_env[i].value);
    }
    free(file_env);
    file_env = NULL;
    file_env_size = 0;
}

/* 0, or -1 with *line_no set (0: the file cannot be read) */
int envfile_read(const char *path, size_t *line_no)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    size_t n = 0;

    *line_no = 0;
    if (fp == NULL)
        return -1;
    envfile_clear();
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *p = line, *eq, *end;
        ++n;
        end = p + strlen(p);
        while (end != p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        while (*p == ' ' || *p == '\t')
            ++p;
        if (*p == '\0' || *p == '#')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        if ((eq = strchr(p, '=')) == NULL || eq == p) {
            fclose(fp);
            *line_no = n;
            return -1;
        }
        *eq++ = '\0';
        if (end - eq >= 2 && (*eq == '"' || *eq == '\'') && end[-1] == *eq) {
            ++eq;
            *--end = '\0';
        }
        file_env = realloc(file_env, sizeof(*file_env) * (file_env_size + 1));
        if (file_env == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        file_env[file_env_size].name = strdup(p);
        file_env[file_env_size].value = strdup(eq);
        ++file_env_size;
    }
    fclose(fp);
    return 0;
}

/* the file's value (last one wins), else the environment's; empty is unset */
const char *envfile_lookup(const char *name)
{
    const char *v = NULL;
    size_t i;

    for (i = file_env_size; i != 0; --i) {
        if (strcmp(file_env[i - 1].name, name) == 0) {
            v = file_env[i - 1].value;
            break;
        }
    }
    if (v == NULL)
        v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}
