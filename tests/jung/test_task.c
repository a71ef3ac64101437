/* test_task: parsing of task and result messages, malformed input included. */
#include "../testlib.h"
#include "jung/lib/jung.h"
#include "jung/lib/jung_internal.h"

#include <string.h>

static int parse(const char *text, jung_task *task, json_t **root, jung_error *err)
{
    memset(err, 0, sizeof *err);
    return jung_task_parse(text, text ? strlen(text) : 0, task, root, err);
}

static void expect_rejected(const char *text, const char *reason_part)
{
    jung_task task;
    json_t *root = (json_t *)1;
    jung_error err;
    REQUIRE(!parse(text, &task, &root, &err));
    REQUIRE(root == NULL);
    REQUIRE(err.code == 400);
    if (!strstr(err.message, reason_part)) {
        fprintf(stderr, "input %s: message '%s' lacks '%s'\n", text, err.message, reason_part);
        exit(1);
    }
}

static void test_valid_task(void)
{
    jung_task task;
    json_t *root;
    jung_error err;
    REQUIRE(parse("{\"v\":1,\"id\":\"8c1b5e0e-0000-4000-8000-000000000001\",\"type\":\"GET\","
                  "\"reply_to\":\"user_registry_results\",\"payload\":{\"username\":\"ana\"}}",
                  &task, &root, &err));
    REQUIRE(strcmp(task.id, "8c1b5e0e-0000-4000-8000-000000000001") == 0);
    REQUIRE(strcmp(task.type, "GET") == 0);
    REQUIRE(strcmp(task.reply_to, "user_registry_results") == 0);
    REQUIRE(strcmp(json_string_value(json_object_get(task.payload, "username")), "ana") == 0);
    json_decref(root);

    /* reply_to is optional: fire-and-forget. */
    REQUIRE(parse("{\"v\":1,\"id\":\"a\",\"type\":\"WRITE\",\"payload\":{}}", &task, &root, &err));
    REQUIRE(task.reply_to[0] == '\0');
    json_decref(root);
}

static void test_malformed_tasks(void)
{
    expect_rejected(NULL, "empty");
    expect_rejected("", "malformed JSON");
    expect_rejected("{\"v\":1,", "malformed JSON");
    expect_rejected("\xff\xfe", "malformed JSON");
    expect_rejected("[1]", "not a JSON object");
    expect_rejected("42", "not a JSON object");
    expect_rejected("{\"id\":\"a\",\"type\":\"GET\",\"payload\":{}}", "version");
    expect_rejected("{\"v\":\"1\",\"id\":\"a\",\"type\":\"GET\",\"payload\":{}}", "version");
    expect_rejected("{\"v\":2,\"id\":\"a\",\"type\":\"GET\",\"payload\":{}}", "version 2");
    expect_rejected("{\"v\":1,\"type\":\"GET\",\"payload\":{}}", "no 'id'");
    expect_rejected("{\"v\":1,\"id\":\"\",\"type\":\"GET\",\"payload\":{}}", "'id'");
    expect_rejected("{\"v\":1,\"id\":7,\"type\":\"GET\",\"payload\":{}}", "'id'");
    expect_rejected("{\"v\":1,\"id\":\"a\",\"payload\":{}}", "no 'type'");
    expect_rejected("{\"v\":1,\"id\":\"a\",\"type\":\"GET\"}", "'payload'");
    expect_rejected("{\"v\":1,\"id\":\"a\",\"type\":\"GET\",\"payload\":[]}", "'payload'");
    expect_rejected("{\"v\":1,\"id\":\"a\",\"type\":\"GET\",\"payload\":\"x\"}", "'payload'");
    expect_rejected("{\"v\":1,\"id\":\"a\",\"type\":\"A_TYPE_NAME_FAR_TOO_LONG_FOR_ANY_TASK\","
                    "\"payload\":{}}",
                    "longer than");
    expect_rejected("{\"v\":1,\"id\":\"a\",\"id\":\"b\",\"type\":\"GET\",\"payload\":{}}",
                    "malformed JSON"); /* duplicate keys are ambiguous */
}

/* Nesting that would overflow a worker's stack in jansson is refused before
 * parsing; strings with brackets do not count. */
static void test_deep_nesting(void)
{
    size_t n = 3000;
    char *doc = malloc(2 * n + 128);
    char *p = doc + sprintf(doc, "{\"v\":1,\"id\":\"a\",\"type\":\"GET\",\"payload\":{\"x\":");
    memset(p, '[', n);
    memset(p + n, ']', n);
    strcpy(p + 2 * n, "}}");
    expect_rejected(doc, "nests deeper");
    free(doc);
    REQUIRE(jung_json_depth_ok("{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", 44, 2));
    REQUIRE(!jung_json_depth_ok("[[[]]]", 6, 2));
    REQUIRE(jung_json_depth_ok("{\"a\\\"[[[\":1}", 12, 1));
}

static void test_build_and_results(void)
{
    json_t *t = jung_task_build("id-1", "READ", "device_monitor_results", json_object());
    char *text = json_dumps(t, JSON_COMPACT);
    jung_task task;
    json_t *root;
    jung_error err;
    REQUIRE(parse(text, &task, &root, &err));
    REQUIRE(strcmp(task.type, "READ") == 0 && strcmp(task.reply_to, "device_monitor_results") == 0);
    json_decref(root);
    free(text);
    json_decref(t);

    jung_error e404 = {0};
    jung_error_set(&e404, 404, "unknown user '%s'", "bob");
    json_t *r = jung_result_build("id-1", false, NULL, &e404);
    text = json_dumps(r, JSON_COMPACT);
    jung_result res;
    REQUIRE(jung_result_parse(text, strlen(text), &res, &err));
    REQUIRE(!res.ok && res.error.code == 404 &&
            strcmp(res.error.message, "unknown user 'bob'") == 0);
    free(text);
    json_decref(r);

    r = jung_result_build("id-2", true, json_pack("{s:i}", "n", 3), NULL);
    text = json_dumps(r, JSON_COMPACT);
    REQUIRE(jung_result_parse(text, strlen(text), &res, &err));
    REQUIRE(res.ok && json_integer_value(json_object_get(res.data, "n")) == 3);
    json_decref(res.data);
    free(text);
    json_decref(r);

    const char *bad[] = {"{}", "{\"v\":1,\"task_id\":\"a\"}",
                         "{\"v\":1,\"task_id\":\"a\",\"status\":\"maybe\"}", "nope"};
    for (int i = 0; i < 4; i++)
        REQUIRE(!jung_result_parse(bad[i], strlen(bad[i]), &res, &err));
}

int main(void)
{
    test_valid_task();
    test_malformed_tasks();
    test_deep_nesting();
    test_build_and_results();
    printf("ok\n");
    return 0;
}
