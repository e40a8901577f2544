#include "yaml_lite.hpp"

#include <sstream>
#include <stdexcept>
#include <vector>

namespace brood::testing {

namespace {

struct Line {
    int indent;
    std::string text;
    int number;
};

std::string strip_comment(const std::string& s) {
    char quote = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            if (i == 0 || s[i - 1] == ' ' || s[i - 1] == '[' || s[i - 1] == ',' || s[i - 1] == ':') quote = c;
        } else if (c == '#' && (i == 0 || s[i - 1] == ' ')) {
            return s.substr(0, i);
        }
    }
    return s;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.pop_back();
    size_t start = s.find_first_not_of(' ');
    return start == std::string::npos ? "" : s.substr(start);
}

nlohmann::json scalar(const std::string& raw) {
    std::string s = trim(raw);
    if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
        return s.substr(1, s.size() - 2);
    if (s == "{}") return nlohmann::json::object();
    if (s == "[]") return nlohmann::json::array();
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') {
        nlohmann::json arr = nlohmann::json::array();
        std::stringstream items(s.substr(1, s.size() - 2));
        std::string item;
        while (std::getline(items, item, ',')) arr.push_back(scalar(item));
        return arr;
    }
    if (s == "true") return true;
    if (s == "false") return false;
    if (s == "null" || s == "~") return nullptr;
    if (!s.empty() && s.find_first_not_of("-0123456789") == std::string::npos && s != "-") return std::stoll(s);
    return s;
}

// Splits "key: value" / "key:"; returns false when it is not a mapping entry.
bool split_key(const std::string& text, std::string& key, std::string& rest) {
    size_t pos = 0;
    if (!text.empty() && (text[0] == '\'' || text[0] == '"')) {
        size_t end = text.find(text[0], 1);
        if (end == std::string::npos) return false;
        key = text.substr(1, end - 1);
        pos = end + 1;
        if (pos >= text.size() || text[pos] != ':') return false;
    } else {
        size_t colon = text.find(": ");
        if (colon == std::string::npos) {
            if (text.empty() || text.back() != ':') return false;
            colon = text.size() - 1;
        }
        key = text.substr(0, colon);
        pos = colon;
    }
    rest = trim(text.substr(pos + 1));
    return true;
}

class Parser {
public:
    explicit Parser(std::vector<Line> lines) : _lines(std::move(lines)) {}

    nlohmann::json block(int indent) {
        if (_i >= _lines.size()) return nullptr;
        if (_lines[_i].text.rfind("- ", 0) == 0 || _lines[_i].text == "-") return sequence(indent);
        return mapping(indent);
    }

private:
    [[noreturn]] void error(const std::string& what) const {
        int number = _i < _lines.size() ? _lines[_i].number : -1;
        throw std::runtime_error("yaml line " + std::to_string(number) + ": " + what);
    }

    nlohmann::json value_after(const std::string& rest, int indent) {
        if (!rest.empty()) return scalar(rest);
        if (_i < _lines.size() && _lines[_i].indent > indent) return block(_lines[_i].indent);
        return nullptr;
    }

    nlohmann::json mapping(int indent) {
        nlohmann::json obj = nlohmann::json::object();
        while (_i < _lines.size() && _lines[_i].indent == indent) {
            std::string key, rest;
            if (!split_key(_lines[_i].text, key, rest)) error("expected key: value");
            ++_i;
            obj[key] = value_after(rest, indent);
        }
        if (_i < _lines.size() && _lines[_i].indent > indent) error("unexpected indentation");
        return obj;
    }

    nlohmann::json sequence(int indent) {
        nlohmann::json arr = nlohmann::json::array();
        while (_i < _lines.size() && _lines[_i].indent == indent && _lines[_i].text.rfind("-", 0) == 0) {
            std::string item = trim(_lines[_i].text.substr(1));
            std::string key, rest;
            if (item.empty()) {
                ++_i;
                arr.push_back(value_after("", indent));
            } else if (split_key(item, key, rest) && item.front() != '[') {
                // "- key: value" opens a mapping whose keys sit at indent + 2.
                _lines[_i].indent = indent + 2;
                _lines[_i].text = item;
                arr.push_back(mapping(indent + 2));
            } else {
                ++_i;
                arr.push_back(scalar(item));
            }
        }
        return arr;
    }

    std::vector<Line> _lines;
    size_t _i = 0;
};

std::string type_of(const nlohmann::json& v) {
    if (v.is_null()) return "null";
    if (v.is_boolean()) return "boolean";
    if (v.is_number_integer()) return "integer";
    if (v.is_number()) return "number";
    if (v.is_string()) return "string";
    if (v.is_array()) return "array";
    return "object";
}

} // namespace

nlohmann::json parse_yaml_lite(const std::string& text) {
    std::vector<Line> lines;
    std::stringstream in(text);
    std::string raw;
    int number = 0;
    while (std::getline(in, raw)) {
        ++number;
        if (raw.find('\t') != std::string::npos) throw std::runtime_error("yaml: tab on line " + std::to_string(number));
        std::string content = trim(strip_comment(raw));
        if (content.empty()) continue;
        int indent = static_cast<int>(raw.find_first_not_of(' '));
        lines.push_back({indent, content, number});
    }
    Parser parser(std::move(lines));
    return parser.block(0);
}

std::string check_schema(const nlohmann::json& spec, const nlohmann::json& schema, const nlohmann::json& value,
                         const std::string& where) {
    if (schema.contains("$ref")) {
        std::string ref = schema["$ref"];
        if (value.is_null() && schema.value("nullable", false)) return "";
        nlohmann::json::json_pointer pointer(ref.substr(1));
        return check_schema(spec, spec.at(pointer), value, where);
    }
    if (value.is_null()) return schema.value("nullable", false) ? "" : where + ": null but not nullable";
    std::string type = schema.value("type", "");
    std::string actual = type_of(value);
    if (!type.empty() && type != actual && !(type == "number" && actual == "integer"))
        return where + ": expected " + type + ", got " + actual;
    if (schema.contains("enum")) {
        bool found = false;
        for (const auto& e : schema["enum"]) found = found || e == value;
        if (!found) return where + ": " + value.dump() + " not in enum";
    }
    if (value.is_object()) {
        for (const auto& key : schema.value("required", nlohmann::json::array()))
            if (!value.contains(key.get<std::string>())) return where + ": missing " + key.get<std::string>();
        const nlohmann::json properties = schema.value("properties", nlohmann::json::object());
        for (const auto& [key, sub] : properties.items())
            if (value.contains(key))
                if (auto e = check_schema(spec, sub, value[key], where + "." + key); !e.empty()) return e;
    }
    if (value.is_array() && schema.contains("items"))
        for (size_t i = 0; i < value.size(); ++i)
            if (auto e = check_schema(spec, schema["items"], value[i], where + "[" + std::to_string(i) + "]"); !e.empty())
                return e;
    return "";
}

} // namespace brood::testing
