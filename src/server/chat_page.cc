#include "server/chat_page.h"

namespace atom {

// Placeholder until the page lands.
std::string_view ChatPageHtml() {
  return R"html(<!doctype html><html><head><meta charset="utf-8"><title>atom.cpp</title></head>
<body><p>atom.cpp</p></body></html>)html";
}

}  // namespace atom
