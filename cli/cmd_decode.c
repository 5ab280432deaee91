/* faultline decode, faultline keygen: fault codes explained, CURVE keys made. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "faultcode.h"
#include "query.h"
#include "resultfmt.h"
#include "store.h"
#include "timeutil.h"
#include "transport.h"

int cmd_decode(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"table", no_argument, NULL, 't'}, {NULL, 0, NULL, 0}};
    int opt, table = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'j')
            c->json = 1;
        else if (opt == 't')
            table = 1;
        else
            return 2;
    }
    if (table) {
        fault_table_markdown(stdout);
        return 0;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "faultline decode: %s\n",
                optind == argc ? "which code?" : "one code at a time");
        return 2;
    }
    const char *code_s = argv[optind];
    uint16_t code;
    if (fault_parse(code_s, &code) != 0) {
        fprintf(stderr,
                "faultline decode: '%s' is not a 16-bit code (0x3795, 14229 or "
                "0b0011011110010101)\n",
                code_s);
        return 2;
    }
    struct fl_fault_info fi;
    int known = fault_decode(code, &fi) == 0;
    if (c->json) {
        char hex[8], bin[20];
        snprintf(hex, sizeof hex, "0x%04x", code);
        for (int b = 0; b < 16; b++)
            bin[b] = (char)('0' + ((code >> (15 - b)) & 1));
        bin[16] = '\0';
        json_t *o = json_pack(
            "{s:s, s:i, s:s, s:i, s:s, s:i, s:s, s:i, s:s, s:s, s:i, s:s, s:b}", "code", hex,
            "decimal", (int)code, "binary", bin, "category", (int)fi.category, "category_name",
            fi.category_name, "subcategory", (int)fi.subcategory, "subcategory_name",
            fi.subcategory_name, "severity", (int)fi.severity, "severity_name", fi.severity_name,
            "level", fi.level, "error", (int)fi.error, "error_name", fi.error_name, "known", known);
        json_dumpf(o, stdout, FL_JSON_FLAGS);
        fputc('\n', stdout);
        json_decref(o);
    } else {
        printf("0x%04x = %u = 0b", code, code);
        for (int b = 15; b >= 0; b--)
            putchar('0' + ((code >> b) & 1));
        putchar('\n');
        printf("  category    0x%x %s\n", fi.category, fi.category_name);
        printf("  subcategory 0x%x %s\n", fi.subcategory, fi.subcategory_name);
        printf("  severity    %u %s (%s)\n", fi.severity, fi.severity_name, fi.level);
        printf("  error       0x%x %s\n", fi.error, fi.error_name);
    }
    return known ? 0 : 1;
}

int cmd_keygen(struct cli *c, int argc, char **argv)
{
    (void)c;
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "faultline keygen: %s\n",
                argc < 2            ? "which PREFIX?"
                : argv[1][0] == '-' ? "no options"
                                    : "one PREFIX");
        return 2;
    }
    char err[512], pub[FL_KEY_Z85 + 1];
    if (transport_keygen(argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "faultline keygen: %s\n", err);
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s.pub", argv[1]);
    if (transport_key_load(path, pub, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "faultline keygen: %s\n", err);
        return 1;
    }
    printf("%s.key %s.pub %s\n", argv[1], argv[1], pub);
    return 0;
}
