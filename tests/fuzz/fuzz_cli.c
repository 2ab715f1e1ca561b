/*
 * The whole command line: the input is argv after "sockcat", words
 * separated by NUL bytes, parsed as main parses it. Usage errors, --help
 * and --version are answers like any other; nothing may crash, leak or
 * read outside the words.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "diag.h"

/* More words than any real command line; the point is the parsing. */
#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char *argv[MAX_WORDS + 2];
    int argc = 0;
    struct sc_opts opts;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    argv[argc++] = "sockcat";
    for (char *word = text; word <= text + size && argc <= MAX_WORDS;
         word += strlen(word) + 1)
        argv[argc++] = word;
    argv[argc] = NULL;

    /* getopt keeps state across calls: 0 makes glibc start afresh. */
    optind = 0;
    sc_verbosity = 0;
    cli_parse(argc, argv, &opts);
    cli_free(&opts);
    free(text);
    return 0;
}
