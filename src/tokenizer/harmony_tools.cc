#include "tokenizer/harmony_tools.h"

#include <string>
#include <unordered_set>

#include <fmt/format.h>

namespace atom {
namespace {

using Json = nlohmann::ordered_json;

// The member `key` of `v`, or nullptr when `v` is not an object or has no such member (as
// serde_json's Value::get).
const Json* Get(const Json& v, std::string_view key) {
  if (!v.is_object()) return nullptr;
  auto it = v.find(key);
  return it == v.end() ? nullptr : &*it;
}

const std::string* GetString(const Json& v, std::string_view key) {
  const Json* m = Get(v, key);
  return m != nullptr && m->is_string() ? m->get_ptr<const std::string*>() : nullptr;
}

const Json::array_t* GetArray(const Json& v, std::string_view key) {
  const Json* m = Get(v, key);
  return m != nullptr && m->is_array() ? m->get_ptr<const Json::array_t*>() : nullptr;
}

// A JSON literal written in this file (always valid).
Json Literal(const char* text) { return Json::parse(text, nullptr, /*allow_exceptions=*/false); }

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

bool IsEnum(const Json& schema) {
  const Json::array_t* e = GetArray(schema, "enum");
  return e != nullptr && !e->empty();
}

bool IsNullable(const Json& schema) {
  const Json* n = Get(schema, "nullable");
  return n != nullptr && n->is_boolean() && n->get<bool>();
}

// serde_json's Display of a value: compact JSON.
std::string Dump(const Json& v) {
  return v.dump(-1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

// "default: ..." as harmony writes it for properties and property-level oneOf variants: a
// string is quoted unless the schema is an enum; other values are JSON.
std::string PropertyDefault(const Json& schema, const Json& def) {
  if (def.is_string()) {
    const auto& s = def.get_ref<const std::string&>();
    return IsEnum(schema) ? fmt::format("default: {}", s) : fmt::format("default: \"{}\"", s);
  }
  return "default: " + Dump(def);
}

// As above for the variants of a top-level oneOf, where an enum's string default is JSON.
std::string VariantDefault(const Json& schema, const Json& def) {
  if (def.is_string() && !IsEnum(schema)) {
    return fmt::format("default: \"{}\"", def.get_ref<const std::string&>());
  }
  return "default: " + Dump(def);
}

std::string WithNull(std::string type, const Json& schema) {
  if (IsNullable(schema) && type.find("null") == std::string::npos) type += " | null";
  return type;
}

std::string ToTs(const Json& schema, const std::string& indent, int depth);

// A oneOf schema (not a property): "\n<indent> | A // comments\n<indent> | B".
std::string OneOfToTs(const Json::array_t& variants, const std::string& indent, int depth) {
  std::string out;
  for (const Json& variant : variants) {
    out += fmt::format("\n{} | ", indent);
    out += WithNull(ToTs(variant, indent + "   ", depth + 1), variant);
    std::vector<std::string> comments;
    if (const std::string* d = GetString(variant, "description")) comments.push_back(*d);
    if (const Json* def = Get(variant, "default")) {
      comments.push_back(VariantDefault(variant, *def));
    }
    if (!comments.empty()) out += " // " + Join(comments, " ");
  }
  return out;
}

// One property whose schema has a oneOf: comments above the name, then one line per variant.
void OneOfPropertyToTs(const std::string& key, const Json& val, const Json::array_t& variants,
                       bool required, const std::string& indent, int depth, std::string& out) {
  const std::string* property_desc = GetString(val, "description");
  bool skip_property_desc = false;
  if (property_desc != nullptr && !variants.empty()) {
    const std::string* first_desc = GetString(variants.front(), "description");
    skip_property_desc = first_desc != nullptr && *first_desc == *property_desc;
  }
  bool desc_above = false;
  if (!skip_property_desc && property_desc != nullptr) {
    out += fmt::format("{}// {}\n", indent, *property_desc);
    desc_above = true;
  }
  if (const Json* def = Get(val, "default")) {
    out += fmt::format("{}// {}\n", indent, PropertyDefault(val, *def));
  }
  out += fmt::format("{}{}{}:\n", indent, key, required ? "" : "?");
  for (size_t i = 0; i < variants.size(); ++i) {
    const Json& variant = variants[i];
    out += fmt::format("{} | ", indent);
    out += WithNull(ToTs(variant, indent + "   ", depth + 1), variant);
    std::vector<std::string> comments;
    if (!(i == 0 && desc_above)) {
      const std::string* d = GetString(variant, "description");
      if (d != nullptr && (property_desc == nullptr || *d != *property_desc)) {
        comments.push_back(*d);
      }
    }
    if (const Json* def = Get(variant, "default")) {
      comments.push_back(PropertyDefault(variant, *def));
    }
    if (!comments.empty()) out += " // " + Join(comments, " ");
    out += '\n';
  }
  out += fmt::format("{},\n", indent);
}

std::string ObjectToTs(const Json& schema, const std::string& indent, int depth) {
  std::string out;
  if (const std::string* d = GetString(schema, "description")) {
    out += fmt::format("{}// {}\n", indent, *d);
  }
  out += "{\n";
  const Json* props = Get(schema, "properties");
  if (props != nullptr && props->is_object()) {
    std::unordered_set<std::string> required;
    if (const Json::array_t* req = GetArray(schema, "required")) {
      for (const Json& r : *req) {
        if (r.is_string()) required.insert(r.get<std::string>());
      }
    }
    for (const auto& [key, val] : props->items()) {
      const bool is_required = required.count(key) > 0;
      if (const std::string* title = GetString(val, "title")) {
        out += fmt::format("{}// {}\n{}//\n", indent, *title, indent);
      }
      const Json* one_of = Get(val, "oneOf");
      if (one_of == nullptr) {
        if (const std::string* d = GetString(val, "description")) {
          out += fmt::format("{}// {}\n", indent, *d);
        }
      }
      if (const Json::array_t* examples = GetArray(val, "examples")) {
        if (!examples->empty()) {
          out += fmt::format("{}// Examples:\n", indent);
          for (const Json& ex : *examples) {
            if (ex.is_string()) {
              out += fmt::format("{}// - \"{}\"\n", indent, ex.get_ref<const std::string&>());
            }
          }
        }
      }
      if (one_of != nullptr && one_of->is_array()) {
        OneOfPropertyToTs(key, val, one_of->get_ref<const Json::array_t&>(), is_required, indent,
                          depth, out);
        continue;
      }
      out += fmt::format("{}{}{}: ", indent, key, is_required ? "" : "?");
      out += WithNull(ToTs(val, indent + "    ", depth + 1), val);
      out += ',';
      if (one_of == nullptr) {
        if (const Json* def = Get(val, "default")) out += " // " + PropertyDefault(val, *def);
      }
      out += '\n';
    }
  }
  out += fmt::format("{}}}", indent);
  return out;
}

std::string ToTs(const Json& schema, const std::string& indent, int depth) {
  if (depth > kMaxSchemaDepth) return "any";
  if (const Json::array_t* one_of = GetArray(schema, "oneOf")) {
    return OneOfToTs(*one_of, indent, depth);
  }
  const Json* type = Get(schema, "type");
  if (type != nullptr && type->is_array()) {
    std::vector<std::string> names;
    for (const Json& t : *type) {
      if (!t.is_string()) continue;
      const auto& s = t.get_ref<const std::string&>();
      names.push_back(s == "integer" ? "number" : s);
    }
    if (!names.empty()) return Join(names, " | ");
  }
  if (type == nullptr || !type->is_string()) return "any";
  const auto& t = type->get_ref<const std::string&>();
  if (t == "object") return ObjectToTs(schema, indent, depth);
  if (t == "string") {
    std::vector<std::string> values;
    if (const Json::array_t* e = GetArray(schema, "enum")) {
      for (const Json& v : *e) {
        if (v.is_string()) values.push_back(fmt::format("\"{}\"", v.get_ref<const std::string&>()));
      }
    }
    return values.empty() ? "string" : Join(values, " | ");
  }
  if (t == "number" || t == "integer") return "number";
  if (t == "boolean") return "boolean";
  if (t == "array") {
    const Json* items = Get(schema, "items");
    return items == nullptr ? "Array<any>" : ToTs(*items, indent, depth + 1) + "[]";
  }
  return "any";
}

Status SchemaError(std::string_view path, std::string_view what) {
  return InvalidArgument("{}: {}", path, what);
}

Status Validate(const Json& schema, const std::string& path, int depth) {
  if (depth > kMaxSchemaDepth) {
    return SchemaError(path, fmt::format("schema nested deeper than {} levels", kMaxSchemaDepth));
  }
  if (schema.is_boolean()) return OkStatus();
  if (!schema.is_object()) {
    return SchemaError(path, fmt::format("a schema must be a JSON object, got {}",
                                         schema.type_name()));
  }
  for (const char* key : {"title", "description"}) {
    const Json* v = Get(schema, key);
    if (v != nullptr && !v->is_string()) {
      return SchemaError(path + "." + key, "must be a string");
    }
  }
  for (const char* key : {"enum", "examples", "required"}) {
    const Json* v = Get(schema, key);
    if (v != nullptr && !v->is_array()) return SchemaError(path + "." + key, "must be an array");
  }
  if (const Json::array_t* req = GetArray(schema, "required")) {
    for (size_t i = 0; i < req->size(); ++i) {
      if (!(*req)[i].is_string()) {
        return SchemaError(fmt::format("{}.required[{}]", path, i), "must be a string");
      }
    }
  }
  if (const Json* type = Get(schema, "type")) {
    bool ok = type->is_string();
    if (type->is_array()) {
      ok = true;
      for (const Json& t : *type) ok = ok && t.is_string();
    }
    if (!ok) return SchemaError(path + ".type", "must be a string or an array of strings");
  }
  if (const Json* props = Get(schema, "properties")) {
    if (!props->is_object()) return SchemaError(path + ".properties", "must be an object");
    for (const auto& [key, val] : props->items()) {
      ATOM_RETURN_IF_ERROR(Validate(val, path + ".properties." + key, depth + 1));
    }
  }
  if (const Json* one_of = Get(schema, "oneOf")) {
    if (!one_of->is_array()) return SchemaError(path + ".oneOf", "must be an array");
    for (size_t i = 0; i < one_of->size(); ++i) {
      ATOM_RETURN_IF_ERROR(Validate((*one_of)[i], fmt::format("{}.oneOf[{}]", path, i), depth + 1));
    }
  }
  if (const Json* items = Get(schema, "items")) {
    if (items->is_array()) {
      for (size_t i = 0; i < items->size(); ++i) {
        ATOM_RETURN_IF_ERROR(
            Validate((*items)[i], fmt::format("{}.items[{}]", path, i), depth + 1));
      }
    } else {
      ATOM_RETURN_IF_ERROR(Validate(*items, path + ".items", depth + 1));
    }
  }
  return OkStatus();
}

}  // namespace

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (nl != std::string_view::npos && !line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

Status ValidateToolSchema(const nlohmann::ordered_json& schema, std::string_view path) {
  return Validate(schema, std::string(path), 0);
}

std::string JsonSchemaToTypeScript(const nlohmann::ordered_json& schema, std::string_view indent) {
  return ToTs(schema, std::string(indent), 0);
}

StatusOr<std::string> RenderToolsSection(const std::vector<ToolNamespace>& namespaces) {
  std::vector<std::string> sections = {"# Tools"};
  for (const ToolNamespace& ns : namespaces) {
    std::vector<std::string> lines = {fmt::format("## {}\n", ns.name)};
    if (ns.description.has_value()) {
      for (std::string_view line : SplitLines(*ns.description)) {
        lines.push_back(ns.tools.empty() ? std::string(line) : fmt::format("// {}", line));
      }
    }
    if (!ns.tools.empty()) {
      lines.push_back(fmt::format("namespace {} {{\n", ns.name));
      for (const ToolDescription& tool : ns.tools) {
        for (std::string_view line : SplitLines(tool.description)) {
          lines.push_back(fmt::format("// {}", line));
        }
        if (tool.parameters.has_value()) {
          ATOM_RETURN_IF_ERROR(ValidateToolSchema(
              *tool.parameters, fmt::format("{}.{}.parameters", ns.name, tool.name)));
          lines.push_back(fmt::format("type {} = (_: {}) => any;\n", tool.name,
                                      JsonSchemaToTypeScript(*tool.parameters)));
        } else {
          lines.push_back(fmt::format("type {} = () => any;\n", tool.name));
        }
      }
      lines.push_back(fmt::format("}} // namespace {}", ns.name));
    }
    sections.push_back(Join(lines, "\n"));
  }
  return Join(sections, "\n\n");
}

ToolNamespace BrowserToolNamespace() {
  ToolNamespace ns;
  ns.name = "browser";
  ns.description =
      "Tool for browsing.\n"
      "The `cursor` appears in brackets before each browsing display: `[{cursor}]`.\n"
      "Cite information from the tool using the following format:\n"
      "`【{cursor}†L{line_start}(-L{line_end})?】`, for example: `【6†L9-L11】` or `【8†L3】`.\n"
      "Do not quote more than 10 words directly from the tool output.\n"
      "sources=web (default: web)";
  ns.tools.push_back(ToolDescription{
      "search", "Searches for information related to `query` and displays `topn` results.",
      Literal(R"({"type": "object",
                      "properties": {"query": {"type": "string"},
                                     "topn": {"type": "number", "default": 10},
                                     "source": {"type": "string"}},
                      "required": ["query"]})")});
  ns.tools.push_back(ToolDescription{
      "open",
      "Opens the link `id` from the page indicated by `cursor` starting at line number `loc`, "
      "showing `num_lines` lines.\n"
      "Valid link ids are displayed with the formatting: `【{id}†.*】`.\n"
      "If `cursor` is not provided, the most recent page is implied.\n"
      "If `id` is a string, it is treated as a fully qualified URL associated with `source`.\n"
      "If `loc` is not provided, the viewport will be positioned at the beginning of the "
      "document or centered on the most relevant passage, if available.\n"
      "Use this function without `id` to scroll to a new location of an opened page.",
      Literal(R"({"type": "object",
                      "properties": {"id": {"type": ["number", "string"], "default": -1},
                                     "cursor": {"type": "number", "default": -1},
                                     "loc": {"type": "number", "default": -1},
                                     "num_lines": {"type": "number", "default": -1},
                                     "view_source": {"type": "boolean", "default": false},
                                     "source": {"type": "string"}}})")});
  ns.tools.push_back(ToolDescription{
      "find",
      "Finds exact matches of `pattern` in the current page, or the page given by `cursor`.",
      Literal(R"({"type": "object",
                      "properties": {"pattern": {"type": "string"},
                                     "cursor": {"type": "number", "default": -1}},
                      "required": ["pattern"]})")});
  return ns;
}

ToolNamespace PythonToolNamespace() {
  ToolNamespace ns;
  ns.name = "python";
  ns.description =
      "Use this tool to execute Python code in your chain of thought. The code will not be "
      "shown to the user. This tool should be used for internal reasoning, but not for code "
      "that is intended to be visible to the user (e.g. when creating plots, tables, or "
      "files).\n\n"
      "When you send a message containing Python code to python, it will be executed in a "
      "stateful Jupyter notebook environment. python will respond with the output of the "
      "execution or time out after 120.0 seconds. The drive at '/mnt/data' can be used to save "
      "and persist user files. Internet access for this session is UNKNOWN. Depends on the "
      "cluster.";
  return ns;
}

}  // namespace atom
