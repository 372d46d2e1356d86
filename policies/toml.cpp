/*
 * toml.cpp - wrangler.toml through toml++ into a cJSON tree (see
 * tv_toml.h).  Every exception stops here: the C side sees a status and
 * a message.
 */
#include <cstdlib>
#include <new>
#include <sstream>
#include <string>
#include <string_view>

#include <toml++/toml.h>

extern "C" {
#include "tv_jsonc.h"
#include "tv_toml.h"
}

namespace
{

cJSON *convert(const toml::node &n);

template <typename T>
cJSON *
as_text(const T &v)
{
    std::ostringstream os;

    os << v;
    return cJSON_CreateString(os.str().c_str());
}

cJSON *
convert_table(const toml::table &t)
{
    cJSON *obj = cJSON_CreateObject();

    if (obj == nullptr)
        throw std::bad_alloc();
    for (const auto &[key, value] : t) {
        std::string k(key.str());
        cJSON *item;

        try {
            item = convert(value);
        } catch (...) {
            cJSON_Delete(obj);
            throw;
        }

        if (!cJSON_AddItemToObject(obj, k.c_str(), item)) {
            cJSON_Delete(item);
            cJSON_Delete(obj);
            throw std::bad_alloc();
        }
    }
    return obj;
}

cJSON *
convert_array(const toml::array &a)
{
    cJSON *arr = cJSON_CreateArray();

    if (arr == nullptr)
        throw std::bad_alloc();
    for (const auto &value : a) {
        cJSON *item;

        try {
            item = convert(value);
        } catch (...) {
            cJSON_Delete(arr);
            throw;
        }
        if (!cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            cJSON_Delete(arr);
            throw std::bad_alloc();
        }
    }
    return arr;
}

cJSON *
convert(const toml::node &n)
{
    cJSON *item = nullptr;

    switch (n.type()) {
    case toml::node_type::table:
        return convert_table(*n.as_table());
    case toml::node_type::array:
        return convert_array(*n.as_array());
    case toml::node_type::string:
        item = cJSON_CreateString(n.as_string()->get().c_str());
        break;
    case toml::node_type::integer:
        item = cJSON_CreateNumber((double)n.as_integer()->get());
        break;
    case toml::node_type::floating_point:
        item = cJSON_CreateNumber(n.as_floating_point()->get());
        break;
    case toml::node_type::boolean:
        item = cJSON_CreateBool(n.as_boolean()->get());
        break;
    case toml::node_type::date:
        item = as_text(n.as_date()->get());
        break;
    case toml::node_type::time:
        item = as_text(n.as_time()->get());
        break;
    case toml::node_type::date_time:
        item = as_text(n.as_date_time()->get());
        break;
    case toml::node_type::none:
        item = cJSON_CreateNull();
        break;
    }
    if (item == nullptr)
        throw std::bad_alloc();
    return item;
}

} // namespace

extern "C" enum tv_status
tv_toml_load(const char *path, cJSON **out, struct tv_error *err)
{
    enum tv_status rc;
    char *text = nullptr;
    size_t len = 0;

    if (path == nullptr || out == nullptr)
        return tv_error_set(err, TV_EINPUT, "tv_toml_load: bad argument");
    rc = tv_file_read(path, TV_CONFIG_MAX, &text, &len, err);
    if (rc != TV_OK)
        return rc;
    try {
        toml::table t =
            toml::parse(std::string_view(text, len), std::string_view(path));

        *out = convert_table(t);
        rc = TV_OK;
    } catch (const toml::parse_error &e) {
        const auto &where = e.source().begin;
        std::string what(e.description());

        rc = tv_error_set(err, TV_EINPUT, "%s:%u:%u: %s", path,
                          (unsigned)where.line, (unsigned)where.column,
                          what.c_str());
    } catch (const std::bad_alloc &) {
        rc = tv_error_set(err, TV_ENOMEM, "out of memory reading '%s'", path);
    } catch (const std::exception &e) {
        rc = tv_error_set(err, TV_EINPUT, "%s: %s", path, e.what());
    }
    free(text);
    return rc;
}
