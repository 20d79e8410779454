#include "server/request_log.h"

#include <algorithm>
#include <cstdio>

namespace lmc::server {

namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

void AppendHex(std::string* out, std::span<const std::byte> bytes) {
  out->reserve(out->size() + 2 * bytes.size());
  for (const std::byte b : bytes) {
    const auto v = static_cast<unsigned>(b);
    out->push_back(kHexDigits[v >> 4]);
    out->push_back(kHexDigits[v & 0xf]);
  }
}

// Printable ASCII as is (quote and backslash escaped), anything else \xNN.
void AppendEscaped(std::string* out, std::string_view text) {
  for (const char c : text) {
    const auto v = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (v >= 0x20 && v < 0x7f) {
      out->push_back(c);
    } else {
      out->append("\\x");
      out->push_back(kHexDigits[v >> 4]);
      out->push_back(kHexDigits[v & 0xf]);
    }
  }
}

void AppendShape(std::string* out, const wire::Shape& shape) {
  out->append("shape=[");
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append(std::to_string(shape[i]));
  }
  out->push_back(']');
}

}  // namespace

std::string CommandName(std::int32_t command) {
  switch (command) {
    case static_cast<std::int32_t>(wire::Command::kPut): return "PUT";
    case static_cast<std::int32_t>(wire::Command::kGet): return "GET";
    case static_cast<std::int32_t>(wire::Command::kExist): return "EXIST";
    case static_cast<std::int32_t>(wire::Command::kList): return "LIST";
    case static_cast<std::int32_t>(wire::Command::kHealth): return "HEALTH";
    default: return "command=" + std::to_string(command);
  }
}

std::string DescribeRequestHeader(std::span<const std::byte, wire::kRequestHeaderBytes> bytes) {
  wire::RequestView h;
  const wire::WireError e = wire::DecodeRequestView(bytes, &h);
  std::string out = CommandName(h.command);
  out += " length=" + std::to_string(h.length) + " fmt=" + std::to_string(h.fmt) + " dtype=" + std::to_string(h.dtype) +
         " location=" + std::to_string(h.location) + " ";
  AppendShape(&out, h.shape);
  if (e == wire::WireError::kOk) {
    out += " key=\"";
    AppendEscaped(&out, h.key);
    out += "\"";
  } else {
    // Show the field itself, without its trailing 0x20 padding.
    const auto field = bytes.subspan(wire::kRequestIntCount * 4);
    std::size_t end = field.size();
    while (end > 0 && field[end - 1] == std::byte{wire::kKeyPadByte}) --end;
    out += " key=<not UTF-8> raw=\"";
    AppendEscaped(&out, std::string_view(reinterpret_cast<const char*>(field.data()), end));
    out += "\"";
  }
  out += " hex=";
  AppendHex(&out, bytes);
  return out;
}

std::string DescribeReplyHeader(std::span<const std::byte, wire::kReplyHeaderBytes> bytes) {
  wire::ReplyHeader h;
  (void)wire::DecodeReply(bytes, &h);  // exactly 36 bytes: cannot fail
  std::string out = "code=" + std::to_string(h.code) + " length=" + std::to_string(h.length) +
                    " fmt=" + std::to_string(h.fmt) + " dtype=" + std::to_string(h.dtype) + " ";
  AppendShape(&out, h.shape);
  out += " location=" + std::to_string(h.location) + " hex=";
  AppendHex(&out, bytes);
  return out;
}

std::shared_ptr<RequestLog> RequestLog::ToStderr(std::string prefix) {
  return std::make_shared<RequestLog>([prefix = std::move(prefix)](std::string_view line) {
    std::string whole = prefix;
    whole.append(line);
    whole.push_back('\n');
    std::fwrite(whole.data(), 1, whole.size(), stderr);
    std::fflush(stderr);
  });
}

void RequestLog::Write(std::string_view line) {
  std::lock_guard lock(mu_);
  sink_(line);
}

ConnectionTrace::ConnectionTrace(std::shared_ptr<RequestLog> log, std::uint64_t id) : log_(std::move(log)), id_(id) {
  Line("open");
}

void ConnectionTrace::Line(const std::string& text) { log_->Write("conn=" + std::to_string(id_) + " " + text); }

void ConnectionTrace::OnReceived(std::span<const std::byte> bytes) {
  while (!bytes.empty()) {
    if (input_stopped_) {
      ignored_bytes_ += bytes.size();
      return;
    }
    if (payload_left_ > 0) {
      const std::size_t take =
          static_cast<std::size_t>(std::min<std::int64_t>(payload_left_, static_cast<std::int64_t>(bytes.size())));
      payload_left_ -= static_cast<std::int64_t>(take);
      bytes = bytes.subspan(take);
      continue;
    }
    const std::size_t take = std::min(request_.size() - request_fill_, bytes.size());
    std::copy_n(bytes.begin(), take, request_.begin() + static_cast<std::ptrdiff_t>(request_fill_));
    request_fill_ += take;
    bytes = bytes.subspan(take);
    if (request_fill_ == request_.size()) {
      request_fill_ = 0;
      OnRequestHeader();
    }
  }
}

void ConnectionTrace::OnRequestHeader() {
  wire::RequestView h;
  (void)wire::DecodeRequestView(request_, &h);  // the ints are filled in even for a bad key
  std::string text = "recv " + DescribeRequestHeader(request_);
  switch (static_cast<wire::Command>(h.command)) {
    case wire::Command::kPut:
      if (h.length < 0) {
        text += " (negative length: the connection closes)";
        input_stopped_ = true;
      } else {
        payload_left_ = payload_length_ = h.length;
      }
      break;
    case wire::Command::kGet:
    case wire::Command::kExist:
    case wire::Command::kList:
    case wire::Command::kHealth: owed_.push_back(h.command); break;
    default:
      text += " (unknown command: the connection closes)";
      input_stopped_ = true;
      break;
  }
  Line(text);
}

void ConnectionTrace::OnSent(std::span<const std::span<const std::byte>> spans, std::size_t n) {
  for (std::span<const std::byte> s : spans) {
    if (n == 0) return;
    s = s.first(std::min(n, s.size()));
    n -= s.size();
    while (!s.empty()) {
      if (body_left_ > 0) {
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::int64_t>(body_left_, static_cast<std::int64_t>(s.size())));
        body_left_ -= static_cast<std::int64_t>(take);
        s = s.subspan(take);
        continue;
      }
      const std::size_t take = std::min(reply_.size() - reply_fill_, s.size());
      std::copy_n(s.begin(), take, reply_.begin() + static_cast<std::ptrdiff_t>(reply_fill_));
      reply_fill_ += take;
      s = s.subspan(take);
      if (reply_fill_ == reply_.size()) {
        reply_fill_ = 0;
        OnReplyHeader();
      }
    }
  }
}

void ConnectionTrace::OnReplyHeader() {
  wire::ReplyHeader h;
  (void)wire::DecodeReply(reply_, &h);
  std::string to = "?";
  if (!owed_.empty()) {
    to = CommandName(owed_.front());
    owed_.pop_front();
  }
  // Only a SUCCESS with a length carries a body (a GET hit, a LIST).
  if (h.code == static_cast<std::int32_t>(wire::ReturnCode::kSuccess) && h.length > 0) body_left_ = h.length;
  Line("send reply-to=" + to + " " + DescribeReplyHeader(reply_));
}

void ConnectionTrace::OnReadEnd(std::string_view error) {
  std::string text = error.empty() ? "recv eof" : "recv error " + std::string(error);
  if (input_stopped_) {
    if (ignored_bytes_ > 0) text += " (" + std::to_string(ignored_bytes_) + " bytes after the last request ignored)";
  } else if (payload_left_ > 0) {
    text += " inside a PUT payload: " + std::to_string(payload_length_ - payload_left_) + " of " +
            std::to_string(payload_length_) + " bytes arrived; nothing is stored";
  } else if (request_fill_ > 0) {
    text += " inside a request header: " + std::to_string(request_fill_) + " of " +
            std::to_string(wire::kRequestHeaderBytes) + " bytes arrived, hex=";
    AppendHex(&text, std::span(request_).first(request_fill_));
  }
  Line(text);
}

void ConnectionTrace::OnClose(std::string_view why) {
  if (closed_) return;
  closed_ = true;
  Line("close: " + std::string(why));
}

}  // namespace lmc::server
