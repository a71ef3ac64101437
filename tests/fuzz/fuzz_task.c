/* fuzz_task: libjung's task parser (jung_task_parse) on arbitrary bytes,
 * as a service reads them from its task topic. It must never crash, leak or
 * read out of bounds, and a task it accepts must satisfy its contract. */
#include "jung/lib/jung.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jung_task task;
    json_t *root = NULL;
    jung_error err = {0};
    if (jung_task_parse((const char *)data, size, &task, &root, &err)) {
        /* Accepted: an id and a type, and an object payload owned by root. */
        if (!task.id[0] || !task.type[0] || !json_is_object(task.payload))
            __builtin_trap();
    } else if (!err.code || !err.message[0]) {
        __builtin_trap(); /* refused without saying why */
    }
    json_decref(root);
    return 0;
}
