// The OpenAPI 3.1 document of rote's HTTP API (server/http.h). Kept beside the server that answers it; the
// client test validates it with an OpenAPI validator and checks the answers against it.

#include <rote/server/http.h>

namespace rote::server {

namespace {

constexpr const char* kDocument = R"json({
  "openapi": "3.1.0",
  "info": {
    "title": "rote",
    "summary": "Cached browser workflows, run in isolated sandboxes",
    "description": "Queue runs of rote's workflows, follow them step by step, cancel them, and read what they cost. A run replays the workflow's cached trace in a fresh sandboxed browser and asks a model only where the page changed; it fails, with the evidence, when it cannot prove it ended where it should. Every request needs the server's bearer token.",
    "version": "1"
  },
  "servers": [{"url": "/"}],
  "security": [{"bearer": []}],
  "paths": {
    "/v1/runs": {
      "post": {
        "operationId": "createRun",
        "summary": "Queue a run of a workflow",
        "description": "The run waits for a free runner (the server runs a fixed number at once, in the order posted). Secret inputs are never given here: the server reads them from its environment.",
        "requestBody": {
          "required": true,
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RunRequest"}}}
        },
        "responses": {
          "202": {
            "description": "Queued",
            "headers": {"Location": {"schema": {"type": "string"}, "description": "The run's path"}},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}
          },
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "503": {"$ref": "#/components/responses/Error"}
        }
      },
      "get": {
        "operationId": "listRuns",
        "summary": "The runs this server knows, newest first",
        "responses": {
          "200": {
            "description": "The runs (without their steps)",
            "content": {"application/json": {"schema": {
              "type": "object", "required": ["runs"],
              "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"}}}
            }}}
          },
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/runs/{id}": {
      "parameters": [{"$ref": "#/components/parameters/RunId"}],
      "get": {
        "operationId": "getRun",
        "summary": "A run: status, steps, outputs, cost",
        "responses": {
          "200": {"description": "The run", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "operationId": "cancelRun",
        "summary": "Cancel a run",
        "description": "A queued run never starts (200, status cancelled). A running one is stopped: its sandbox is stopped at once and the run is stored as cancelled (202, status cancelling; its events end with the cancelled status).",
        "responses": {
          "200": {"description": "Cancelled before it started", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}},
          "202": {"description": "Being stopped", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Run"}}}},
          "401": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/runs/{id}/events": {
      "parameters": [
        {"$ref": "#/components/parameters/RunId"},
        {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "integer", "minimum": 0},
         "description": "Resume after this event"}
      ],
      "get": {
        "operationId": "runEvents",
        "summary": "The run's events, as server-sent events",
        "description": "Every event from the first (or the one after Last-Event-ID), then each as it happens, in order; the stream ends after the end event. Each event's id is its position (from 1). Events: status (data {status: queued|running}), step (data {step, message}: one per step, numbered from 1), end (data: the run as GET /v1/runs/{id} gives it). Comment lines keep a quiet stream open.",
        "responses": {
          "200": {"description": "The event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/runs/{id}/view": {
      "parameters": [{"$ref": "#/components/parameters/RunId"}],
      "post": {
        "operationId": "viewRun",
        "summary": "A live view of the running run's desktop",
        "description": "noVNC on 127.0.0.1 (a port of its own), whose WebSocket opens only with the token in the returned URL and only from that page's own origin. View-only unless the body asks for control (then the person's keys and clicks reach the sandbox). Made on the first request for a mode (201), the same view after (200); closed when the run's sandbox stops.",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {
          "type": "object", "properties": {"control": {"type": "boolean", "default": false}}, "additionalProperties": false}}}},
        "responses": {
          "200": {"description": "The view made before", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/View"}}}},
          "201": {"description": "The view, made now", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/View"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"},
          "501": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/workflows": {
      "get": {
        "operationId": "listWorkflows",
        "summary": "The workflows this server runs, with their figures",
        "responses": {
          "200": {"description": "The workflows", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Workflows"}}}},
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/report": {
      "get": {
        "operationId": "getReport",
        "summary": "What runs cost: per run, per workflow and in total",
        "parameters": [
          {"name": "workflow", "in": "query", "required": false, "schema": {"type": "string"}, "description": "Only this workflow's runs"},
          {"name": "since", "in": "query", "required": false, "schema": {"type": "string"},
           "description": "Only runs started at or after this time: 2026-12-01 or 2026-12-01T09:00:00Z"}
        ],
        "responses": {
          "200": {"description": "The report", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Report"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/report.html": {
      "get": {
        "operationId": "getReportPage",
        "summary": "The report as one self-contained page: charts per workflow, every step of the newest runs with the screen before and after it, divergences with the expected and actual screens",
        "parameters": [
          {"name": "workflow", "in": "query", "required": false, "schema": {"type": "string"}, "description": "Only this workflow's runs"},
          {"name": "since", "in": "query", "required": false, "schema": {"type": "string"},
           "description": "Only runs started at or after this time: 2026-12-01 or 2026-12-01T09:00:00Z"},
          {"name": "detail", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0, "maximum": 999999},
           "description": "How many of the newest runs are shown step by step (default 50)"}
        ],
        "responses": {
          "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "401": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/mcp": {
      "post": {
        "operationId": "mcp",
        "summary": "The Model Context Protocol over streamable HTTP (stateless: no session)",
        "description": "One JSON-RPC message per POST, revision 2026-07-28 (server/discover) or the 2025 initialize handshake, as rote mcp speaks on stdio (docs/mcp.md). A notification is answered 202; a request answered at once, with its JSON-RPC response; a call of a workflow's tool, with server-sent events (message events: its progress notifications, then its response) while its run waits for a runner and runs as one of /v1/runs. Closing that stream cancels the call: its run is stopped. MCP-Protocol-Version and Mcp-Method, when sent, must agree with the body.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
          "200": {"description": "The response, or the call's stream",
            "content": {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {"schema": {"type": "string"}}}},
          "202": {"description": "A notification, taken"},
          "400": {"description": "A message that is not JSON-RPC, or headers that disagree with it",
            "content": {"application/json": {"schema": {"type": "object"}}}},
          "401": {"$ref": "#/components/responses/Error"}
        }
      },
      "get": {
        "operationId": "mcpGet",
        "summary": "Not served: there is no session stream (405)",
        "responses": {"405": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/v1/openapi.json": {
      "get": {
        "operationId": "getOpenApi",
        "summary": "This document",
        "responses": {
          "200": {"description": "The OpenAPI document", "content": {"application/json": {"schema": {"type": "object"}}}},
          "401": {"$ref": "#/components/responses/Error"}
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearer": {"type": "http", "scheme": "bearer",
        "description": "The token rote serve made at its first start, in a file only its user reads (it says which)."}
    },
    "parameters": {
      "RunId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9a-f]+$"},
        "description": "The run's id, as POST /v1/runs gave it"}
    },
    "responses": {
      "Error": {
        "description": "What went wrong",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
      }
    },
    "schemas": {
      "View": {
        "type": "object", "required": ["run", "url", "control", "closes"],
        "properties": {
          "run": {"type": "string"},
          "url": {"type": "string", "description": "The page to open: noVNC with the view's own token"},
          "control": {"type": "boolean"},
          "closes": {"type": "string"}
        }
      },
      "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["status", "message"],
          "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}}}
      },
      "RunRequest": {
        "type": "object", "required": ["workflow"], "additionalProperties": false,
        "properties": {
          "workflow": {"type": "string", "description": "A workflow's name (GET /v1/workflows)"},
          "inputs": {"type": "object", "additionalProperties": {"type": ["string", "number"]},
            "description": "The workflow's inputs by name; never a secret"}
        }
      },
      "Run": {
        "type": "object",
        "required": ["id", "url", "events_url", "workflow", "inputs", "status", "queued_at", "started_at", "finished_at", "outputs"],
        "properties": {
          "id": {"type": "string"},
          "url": {"type": "string", "format": "uri"},
          "events_url": {"type": "string", "format": "uri"},
          "workflow": {"type": "string"},
          "inputs": {"type": "object", "additionalProperties": {"type": "string"}},
          "status": {"type": "string", "enum": ["queued", "running", "cancelling", "succeeded", "failed", "cancelled", "interrupted"]},
          "queued_at": {"type": "string", "format": "date-time"},
          "started_at": {"type": ["string", "null"], "format": "date-time"},
          "finished_at": {"type": ["string", "null"], "format": "date-time"},
          "steps": {"type": "array", "items": {"type": "string"}, "description": "One line per step so far"},
          "outputs": {"type": ["object", "null"], "additionalProperties": {"type": "string"},
            "description": "Once ended: what the run read (every output when it succeeded)"},
          "run_id": {"type": ["integer", "null"], "description": "The run's id in the store (rote show, rote report)"},
          "error": {"type": ["string", "null"]},
          "planner_calls": {"type": "integer"},
          "mode": {"type": "string", "enum": ["gui", "api"], "description": "Once ended: whether the GUI or a proved API plan did the work (docs/api.md)"},
          "cost_microusd": {"type": "integer"},
          "cost": {"type": "string", "description": "Dollars, as rote prints them: $0.0123"},
          "run": {"type": ["object", "null"], "description": "Once ended: the run as rote run --json prints it (trace, step counts, divergences)"}
        }
      },
      "Figures": {
        "type": "object",
        "properties": {
          "runs": {"type": "integer"}, "succeeded": {"type": "integer"}, "api_runs": {"type": "integer"}, "llm_calls": {"type": "integer"},
          "tokens": {"type": "object"}, "cost_microusd": {"type": "integer"}, "cost_usd": {"type": "number"},
          "steps": {"type": "integer"}, "steps_replayed": {"type": "integer"},
          "replay_share": {"type": ["number", "null"]}, "wall_ms": {"type": "integer"}, "sandbox_ms": {"type": "integer"}
        }
      },
      "Workflows": {
        "type": "object", "required": ["workflows"],
        "properties": {"workflows": {"type": "array", "items": {
          "type": "object", "required": ["name", "goal", "inputs", "outputs", "effect", "trace_versions", "figures"],
          "properties": {
            "name": {"type": "string"}, "goal": {"type": "string"},
            "inputs": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "type": {"type": "string"},
              "default": {"type": "string", "description": "The value a run types when the input is not given"}}}},
            "outputs": {"type": "array", "items": {"type": "string"}},
            "effect": {"type": "string", "enum": ["read", "add", "change"]},
            "trace_versions": {"type": "integer"},
            "figures": {"oneOf": [{"$ref": "#/components/schemas/Figures"}, {"type": "null"}]}
          }
        }}}
      },
      "Report": {
        "type": "object", "required": ["query", "runs", "workflows", "total"],
        "properties": {
          "query": {"type": "object"},
          "runs": {"type": "array", "items": {"type": "object"}},
          "workflows": {"type": "array", "items": {"type": "object"}},
          "total": {"$ref": "#/components/schemas/Figures"}
        }
      }
    }
  }
})json";

} // namespace

nlohmann::json openapi_document(const std::string& url, const std::string& version)
{
    nlohmann::json doc = nlohmann::json::parse(kDocument);
    doc["servers"] = nlohmann::json::array({{{"url", url}, {"description", "this rote serve"}}});
    doc["info"]["version"] = version;
    return doc;
}

} // namespace rote::server
