/* libFuzzer: the agent's YAML configuration, fed anything. */
#include <stddef.h>
#include <stdint.h>

#include "agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct agent_config cfg;
    char err[4096];
    if (agent_config_load_buffer("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof err) ==
        0)
        agent_config_free(&cfg);
    return 0;
}
