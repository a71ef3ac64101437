/* test_logic: rule evaluation (all four operators, non-numeric values) and
 * the device monitor's paginated history (newest first, bounds, bad
 * page/size). */
#include "../testlib.h"
#include "jung/lib/jung_internal.h"

#include <string.h>

static bool eval(const char *op, json_t *a, json_t *b, bool *sat, jung_error *err)
{
    bool ok = jung_rule_check(op, a, b, sat, err);
    json_decref(a);
    json_decref(b);
    return ok;
}

static void test_rules(void)
{
    jung_error err;
    bool sat;
    struct {
        const char *op;
        double a, b;
        bool want;
    } cases[] = {
        {"==", 1, 1, true},   {"==", 1, 2, false},    {"!=", 1, 2, true}, {"!=", 3, 3, false},
        {">", 5, 4, true},    {">", 4, 4, false},     {"<", 3, 4, true},  {"<", 4, 4, false},
        {"<", -1.5, 0, true}, {">", 0.25, 0.2, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        REQUIRE(eval(cases[i].op, json_real(cases[i].a), json_real(cases[i].b), &sat, &err));
        REQUIRE(sat == cases[i].want);
    }
    /* Integers and reals compare by value. */
    REQUIRE(eval("==", json_integer(2), json_real(2.0), &sat, &err) && sat);

    REQUIRE(!eval("==", json_string("1"), json_integer(1), &sat, &err) && err.code == 400);
    REQUIRE(!eval("<", json_integer(1), json_null(), &sat, &err) && err.code == 400);
    REQUIRE(!eval(">", json_true(), json_integer(0), &sat, &err) && err.code == 400);
    REQUIRE(!eval(">=", json_integer(1), json_integer(1), &sat, &err) && err.code == 400);
    REQUIRE(strstr(err.message, ">="));
    REQUIRE(!eval(NULL, json_integer(1), json_integer(1), &sat, &err));
    REQUIRE(jung_rule_operator_valid("!=") && !jung_rule_operator_valid("=") &&
            !jung_rule_operator_valid(""));
}

static json_t *page_of(const jung_history *h, long page, long size)
{
    return jung_history_page(h, page, size);
}

static void test_history(void)
{
    jung_history h;
    REQUIRE(jung_history_init(&h, 5));
    json_t *p = page_of(&h, 0, 10);
    REQUIRE(json_array_size(json_object_get(p, "readings")) == 0);
    REQUIRE(json_integer_value(json_object_get(p, "total")) == 0);
    json_decref(p);

    for (int i = 1; i <= 7; i++) /* 7 readings into room for 5: 3..7 remain */
        jung_history_add(&h, i * 10, 1000 + i);
    REQUIRE(h.len == 5);
    REQUIRE(jung_history_at(&h, 0)->value == 70 && jung_history_at(&h, 4)->value == 30);
    REQUIRE(jung_history_at(&h, 5) == NULL);

    p = page_of(&h, 0, 2); /* newest first */
    json_t *r = json_object_get(p, "readings");
    REQUIRE(json_array_size(r) == 2);
    REQUIRE(json_integer_value(json_object_get(json_array_get(r, 0), "value")) == 70);
    REQUIRE(json_integer_value(json_object_get(json_array_get(r, 0), "timestamp")) == 1007);
    REQUIRE(json_integer_value(json_object_get(json_array_get(r, 1), "value")) == 60);
    REQUIRE(json_integer_value(json_object_get(p, "total")) == 5);
    REQUIRE(json_integer_value(json_object_get(p, "page")) == 0);
    REQUIRE(json_integer_value(json_object_get(p, "size")) == 2);
    json_decref(p);

    p = page_of(&h, 2, 2); /* last, partial page */
    r = json_object_get(p, "readings");
    REQUIRE(json_array_size(r) == 1);
    REQUIRE(json_integer_value(json_object_get(json_array_get(r, 0), "value")) == 30);
    json_decref(p);

    p = page_of(&h, 3, 2); /* past the end: empty, not an error */
    REQUIRE(json_array_size(json_object_get(p, "readings")) == 0);
    json_decref(p);

    jung_history_add(&h, 2.5, 2000); /* reals stay reals */
    p = page_of(&h, 0, 1);
    REQUIRE(json_real_value(json_object_get(json_array_get(json_object_get(p, "readings"), 0),
                                            "value")) == 2.5);
    json_decref(p);
    jung_history_free(&h);
}

static bool args(const char *json, long *page, long *size, jung_error *err)
{
    json_t *payload = json_loads(json, 0, NULL);
    REQUIRE(payload);
    bool ok = jung_page_args(payload, 10, 100, page, size, err);
    json_decref(payload);
    return ok;
}

static void test_page_args(void)
{
    long page, size;
    jung_error err;
    REQUIRE(args("{}", &page, &size, &err) && page == 0 && size == 10);
    REQUIRE(args("{\"page\":3,\"size\":100}", &page, &size, &err) && page == 3 && size == 100);
    REQUIRE(!args("{\"page\":-1}", &page, &size, &err) && err.code == 400);
    REQUIRE(strstr(err.message, "page"));
    REQUIRE(!args("{\"size\":0}", &page, &size, &err) && strstr(err.message, "size"));
    REQUIRE(!args("{\"size\":101}", &page, &size, &err));
    REQUIRE(!args("{\"size\":\"5\"}", &page, &size, &err));
    REQUIRE(!args("{\"page\":1.5}", &page, &size, &err));
    REQUIRE(!args("{\"page\":99999999999999}", &page, &size, &err));
}

int main(void)
{
    test_rules();
    test_history();
    test_page_args();
    printf("ok\n");
    return 0;
}
