// Small pieces every route of the server uses: JSON replies, errors in one shape, query
// parameters with bounds.
#pragma once

#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/result.hpp"

namespace overdrive {

void SendJson(httplib::Response& res, int status, const nlohmann::json& body);
// {"error": {"code": code, "message": message}}
void SendError(httplib::Response& res, int status, const std::string& code,
               const std::string& message);
// Maps an Error to its HTTP status (kNotFound 404, kInvalidInput 400, kAlreadyExists 409, ...).
void SendError(httplib::Response& res, const Error& e);
int HttpStatusFor(ErrorCode code);

// The request body as a JSON object; sends 400 (naming the parse error, a number out of a
// double's range, or a body that is not an object) and returns nullopt otherwise.
std::optional<nlohmann::json> JsonBody(const httplib::Request& req, httplib::Response& res);

// A query parameter as an integer in [lo, hi]; `def` when absent or not a number.
long long IntParam(const httplib::Request& req, const char* name, long long def, long long lo,
                   long long hi);
std::string StrParam(const httplib::Request& req, const char* name, const std::string& def = "");

}  // namespace overdrive
