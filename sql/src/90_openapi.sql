/* sql/src/90_openapi.sql -- the OpenAPI document, generated from the route table */

-- The JSON Schema of an argument type, for the OpenAPI document
CREATE FUNCTION workon.openapi_schema(typ regtype)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	elem regtype;
BEGIN
	SELECT t.typelem::regtype INTO elem
	  FROM pg_type t WHERE t.oid = typ AND t.typcategory = 'A';
	IF elem IS NOT NULL THEN
		RETURN jsonb_build_object('type', 'array', 'items', workon.openapi_schema(elem));
	END IF;
	RETURN CASE typ
		WHEN 'uuid'::regtype THEN '{"type": "string", "format": "uuid"}'
		WHEN 'text'::regtype THEN '{"type": "string"}'
		WHEN 'character varying'::regtype THEN '{"type": "string"}'
		WHEN 'smallint'::regtype THEN '{"type": "integer", "format": "int32"}'
		WHEN 'integer'::regtype THEN '{"type": "integer", "format": "int32"}'
		WHEN 'bigint'::regtype THEN '{"type": "integer", "format": "int64"}'
		WHEN 'numeric'::regtype THEN '{"type": "number"}'
		WHEN 'double precision'::regtype THEN '{"type": "number"}'
		WHEN 'boolean'::regtype THEN '{"type": "boolean"}'
		WHEN 'timestamp with time zone'::regtype THEN '{"type": "string", "format": "date-time"}'
		WHEN 'date'::regtype THEN '{"type": "string", "format": "date"}'
		WHEN 'jsonb'::regtype THEN '{"type": "object"}'
		WHEN 'json'::regtype THEN '{"type": "object"}'
		ELSE '{"type": "string"}'
	END::jsonb;
END
$$;

COMMENT ON FUNCTION workon.openapi_schema(regtype) IS
'The JSON Schema of a handler argument type in the OpenAPI document (uuid, text, integers, numeric, boolean, timestamptz, date, json, arrays; anything else a string)';

-- The paths the HTTP front end serves itself, with no route in workon.routes
CREATE FUNCTION workon.openapi_builtin_paths()
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT '{
  "/healthz": {"get": {"operationId": "healthz", "tags": ["operations"], "summary": "Liveness: never touches the database", "security": [],
    "responses": {"200": {"description": "{\"status\":\"ok\"}", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/readyz": {"get": {"operationId": "readyz", "tags": ["operations"], "summary": "Readiness: the database answers", "security": [],
    "responses": {"200": {"description": "ready", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "not_ready, with the database check''s error", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/api/health": {"get": {"operationId": "api_health", "tags": ["operations"], "summary": "Health as the existing deployments probe it", "security": [],
    "responses": {"200": {"description": "healthy", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "unhealthy", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/api/v1/health": {"get": {"operationId": "v1_health", "tags": ["operations"], "summary": "Full diagnostic: versions, environment, uptime, database latency, pool", "security": [],
    "responses": {"200": {"description": "diagnostic", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "503": {"description": "the database does not answer", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
  "/metrics": {"get": {"operationId": "metrics", "tags": ["operations"], "summary": "Prometheus metrics (text format 0.0.4)", "security": [],
    "responses": {"200": {"description": "requests by route and status, latency histogram, pool, rate-limited, webhooks", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
  "/api/v1/openapi.json": {"get": {"operationId": "openapi", "tags": ["operations"], "summary": "This document (outside production, or with ENABLE_SWAGGER_PROD=true)", "security": [],
    "responses": {"200": {"description": "OpenAPI 3.1 document", "content": {"application/json": {"schema": {"type": "object"}}}},
                  "404": {"$ref": "#/components/responses/Error"}}}},
  "/docs": {"get": {"operationId": "docs", "tags": ["operations"], "summary": "A page rendering this document (outside production, or with ENABLE_SWAGGER_PROD=true)", "security": [],
    "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
                  "404": {"$ref": "#/components/responses/Error"}}}}
}'::jsonb
$$;

COMMENT ON FUNCTION workon.openapi_builtin_paths() IS
'The OpenAPI path items of what the HTTP front end serves itself: health probes, metrics, the document and its docs page';

-- The schemas the routes share (components.schemas; workon.route_schemas names
-- them with "$ref": "#/components/schemas/<name>")
CREATE FUNCTION workon.openapi_components()
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
-- AdminUser: a User with disabled; AdminUserDetail: with the admin's summary too
SELECT c.c || jsonb_build_object('AdminUser', c.admin, 'AdminUserDetail', c.admin
		|| jsonb_build_object('required', (c.admin -> 'required') || '["bookings", "spending", "spaces"]',
							  'properties', (c.admin -> 'properties') || '{
			"bookings": {"type": "object", "required": ["total", "by_status"], "description": "theirs as a member",
						 "properties": {"total": {"type": "integer"}, "by_status": {"type": "object", "additionalProperties": {"type": "integer"}}}},
			"spending": {"type": "array", "items": {"type": "object", "required": ["currency", "paid_cents", "refunded_cents", "net_cents"],
						 "properties": {"currency": {"$ref": "#/components/schemas/Currency"}, "paid_cents": {"type": "integer"},
										"refunded_cents": {"type": "integer"}, "net_cents": {"type": "integer"}}}},
			"spaces": {"type": "integer", "minimum": 0, "description": "how many they host"}}'::jsonb))
  FROM (SELECT c, jsonb_set(jsonb_set(c -> 'User', '{required}', (c #> '{User,required}') || '["disabled"]'),
						 '{properties,disabled}', '{"type": "boolean"}') - 'examples' AS admin
		  FROM (SELECT '{
  "Uuid": {"type": "string", "format": "uuid", "examples": ["d1000000-0000-4000-8000-000000000024"]},
  "Timestamp": {"type": "string", "format": "date-time", "description": "RFC 3339 in UTC, six fractional digits",
    "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}Z$", "examples": ["2026-03-02T09:00:00.000000Z"]},
  "Currency": {"type": "string", "pattern": "^[a-z]{3}$", "description": "ISO 4217, lower case", "examples": ["eur"]},
  "Money": {"type": "object", "required": ["amount_cents", "currency"], "additionalProperties": false,
    "properties": {"amount_cents": {"type": "integer", "minimum": 0}, "currency": {"$ref": "#/components/schemas/Currency"}},
    "examples": [{"amount_cents": 50000, "currency": "eur"}]},
  "Cursor": {"type": ["string", "null"], "description": "opaque; pass it as ?cursor= for the next page; null on the last page"},
  "Period": {"type": "object", "required": ["starts_at", "ends_at"], "additionalProperties": false,
    "properties": {"starts_at": {"$ref": "#/components/schemas/Timestamp"}, "ends_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "Role": {"type": "string", "enum": ["member", "host", "admin"]},
  "User": {"type": "object", "additionalProperties": false,
    "required": ["id", "email", "name", "role", "email_verified", "locale", "created_at", "updated_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "email": {"type": "string"}, "name": {"type": "string"},
      "role": {"$ref": "#/components/schemas/Role"}, "email_verified": {"type": "boolean"},
      "locale": {"type": "string", "enum": ["en", "fr"]},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}},
    "examples": [{"id": "b5db15bb-ec6c-4bfd-91df-63ebeb624297", "email": "ada@example.com", "name": "Ada Lovelace", "role": "member",
      "email_verified": false, "locale": "en", "created_at": "2026-03-02T09:00:00.000000Z", "updated_at": "2026-03-02T09:00:00.000000Z"}]},
  "Session": {"type": "object", "additionalProperties": false,
    "required": ["user", "access_token", "refresh_token", "token_type", "expires_in"],
    "properties": {"user": {"$ref": "#/components/schemas/User"},
      "access_token": {"type": "string", "description": "a JWT for Authorization: Bearer"},
      "refresh_token": {"type": "string", "description": "for POST /api/v1/auth/refresh, once"},
      "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer", "description": "seconds the access token is valid"}}},
  "BrowserSession": {"type": "object", "additionalProperties": false,
    "required": ["user", "access_token", "token_type", "expires_in"],
    "description": "a Session whose refresh token is the HttpOnly cookie workon_refresh instead",
    "properties": {"user": {"$ref": "#/components/schemas/User"}, "access_token": {"type": "string"},
      "token_type": {"const": "Bearer"}, "expires_in": {"type": "integer"}}},
  "Registration": {"type": "object", "additionalProperties": false, "required": ["email", "password", "name"],
    "description": "every invalid field is named in details.fields",
    "properties": {"email": {"type": "string", "minLength": 3}, "password": {"type": "string", "minLength": 8, "maxLength": 128, "description": "not the e-mail address"},
      "name": {"type": "string", "minLength": 1, "maxLength": 200}, "role": {"type": "string", "enum": ["member", "host"], "default": "member"}},
    "examples": [{"email": "ada@example.com", "password": "correct horse battery", "name": "Ada Lovelace"}]},
  "Credentials": {"type": "object", "additionalProperties": false, "required": ["email", "password"],
    "properties": {"email": {"type": "string", "minLength": 1}, "password": {"type": "string"}},
    "examples": [{"email": "ada@example.com", "password": "correct horse battery"}]},
  "SpaceKind": {"type": "string", "enum": ["desk", "private_office", "meeting_room", "event_space"]},
  "OpeningHours": {"type": "object",
    "description": "by day: sorted, non-overlapping [\"HH:MM\", \"HH:MM\"] intervals in the space''s zone on the 15-minute grid (\"24:00\" ends a day)",
    "propertyNames": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]},
    "additionalProperties": {"type": "array", "items": {"type": "array", "prefixItems": [
      {"type": "string", "pattern": "^([01]\\d|2[0-3]):(00|15|30|45)$"}, {"type": "string", "pattern": "^(([01]\\d|2[0-3]):(00|15|30|45)|24:00)$"}],
      "minItems": 2, "maxItems": 2}},
    "examples": [{"mon": [["08:00", "18:00"]], "tue": [["08:00", "12:00"], ["13:00", "18:00"]]}]},
  "Photo": {"type": "object", "additionalProperties": false, "required": ["id", "url", "content_type"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "url": {"type": "string"}, "content_type": {"type": "string"}}},
  "Rating": {"type": "object", "additionalProperties": false, "required": ["average", "count"],
    "properties": {"average": {"type": ["number", "null"], "minimum": 1, "maximum": 5}, "count": {"type": "integer", "minimum": 0}}},
  "Space": {"type": "object", "additionalProperties": false,
    "required": ["id", "host_id", "name", "description", "kind", "city", "address", "capacity", "timezone", "language",
      "hourly_rate_cents", "daily_rate_cents", "currency", "opening_hours", "published", "photos", "created_at", "updated_at",
      "archived_at", "rating"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "host_id": {"$ref": "#/components/schemas/Uuid"},
      "name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": "string", "maxLength": 5000},
      "kind": {"$ref": "#/components/schemas/SpaceKind"}, "city": {"type": "string", "minLength": 1},
      "address": {"type": "string"}, "capacity": {"type": "integer", "minimum": 1},
      "timezone": {"type": "string", "description": "IANA zone", "examples": ["Europe/Paris"]},
      "language": {"type": "string", "description": "the text search language of the description"},
      "hourly_rate_cents": {"type": "integer", "minimum": 0}, "daily_rate_cents": {"type": "integer", "minimum": 0},
      "currency": {"$ref": "#/components/schemas/Currency"}, "opening_hours": {"$ref": "#/components/schemas/OpeningHours"},
      "published": {"type": "boolean"}, "photos": {"type": "array", "items": {"$ref": "#/components/schemas/Photo"}, "maxItems": 20},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "archived_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]},
      "rating": {"$ref": "#/components/schemas/Rating"}}},
  "SpacePage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Space"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "SpaceInput": {"type": "object", "additionalProperties": false,
    "description": "every invalid field is named in details.fields (the first in details.field)",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}, "description": {"type": "string", "maxLength": 5000},
      "kind": {"$ref": "#/components/schemas/SpaceKind"}, "city": {"type": "string", "minLength": 1},
      "address": {"type": "string", "minLength": 1}, "capacity": {"type": "integer", "minimum": 1},
      "timezone": {"type": "string", "description": "IANA zone"},
      "language": {"type": ["string", "null"], "description": "text search language; by default the one of the zone''s country"},
      "hourly_rate_cents": {"type": "integer", "minimum": 0, "maximum": 100000000000},
      "daily_rate_cents": {"type": "integer", "minimum": 0, "maximum": 100000000000},
      "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217; stored in lower case"},
      "opening_hours": {"$ref": "#/components/schemas/OpeningHours"},
      "published": {"type": "boolean", "description": "true needs opening hours (409 no_opening_hours)"},
      "host_id": {"$ref": "#/components/schemas/Uuid", "description": "admins only: the space''s host"}},
    "examples": [{"name": "Canal loft", "kind": "meeting_room", "city": "Berlin", "address": "Paul-Lincke-Ufer 8, 10999 Berlin",
      "capacity": 8, "timezone": "Europe/Berlin", "hourly_rate_cents": 2500, "daily_rate_cents": 16000, "currency": "eur", "opening_hours": {"mon": [["08:00", "18:00"]]}, "published": true}]},
  "Availability": {"type": "object", "additionalProperties": false, "required": ["space_id", "timezone", "from", "to", "open", "busy", "free"],
    "properties": {"space_id": {"$ref": "#/components/schemas/Uuid"}, "timezone": {"type": "string"},
      "from": {"$ref": "#/components/schemas/Timestamp"}, "to": {"$ref": "#/components/schemas/Timestamp"},
      "open": {"type": "array", "items": {"$ref": "#/components/schemas/Period"}},
      "busy": {"type": "array", "items": {"$ref": "#/components/schemas/Period"}},
      "free": {"type": "array", "items": {"$ref": "#/components/schemas/Period"}, "description": "open minus busy: each can be booked as given"}}},
  "BookingStatus": {"type": "string", "enum": ["pending_payment", "confirmed", "expired", "cancelled", "completed"]},
  "Booking": {"type": "object", "additionalProperties": false,
    "required": ["id", "space_id", "user_id", "starts_at", "ends_at", "status", "price", "hold_expires_at", "refund", "cancelled_at", "created_at", "updated_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "space_id": {"$ref": "#/components/schemas/Uuid"},
      "user_id": {"$ref": "#/components/schemas/Uuid"},
      "starts_at": {"$ref": "#/components/schemas/Timestamp"}, "ends_at": {"$ref": "#/components/schemas/Timestamp"},
      "status": {"$ref": "#/components/schemas/BookingStatus"}, "price": {"$ref": "#/components/schemas/Money"},
      "hold_expires_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}], "description": "a pending booking''s hold ends then"},
      "refund": {"oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": false, "required": ["amount_cents", "currency", "percent"],
        "properties": {"amount_cents": {"type": "integer", "minimum": 0}, "currency": {"$ref": "#/components/schemas/Currency"},
          "percent": {"type": "integer", "minimum": 0, "maximum": 100}}}]},
      "cancelled_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}},
    "examples": [{"id": "f6732d60-5a93-4ed9-9fc0-dba11176b062", "space_id": "d1000000-0000-4000-8000-000000000024",
      "user_id": "b5db15bb-ec6c-4bfd-91df-63ebeb624297", "starts_at": "2027-03-01T10:00:00.000000Z", "ends_at": "2027-03-01T12:00:00.000000Z",
      "status": "pending_payment", "price": {"amount_cents": 50000, "currency": "eur"}, "hold_expires_at": "2026-12-07T18:05:03.715902Z",
      "refund": null, "cancelled_at": null, "created_at": "2026-12-07T17:50:03.715902Z", "updated_at": "2026-12-07T17:50:03.715902Z"}]},
  "BookingPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Booking"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "AdminUserPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/AdminUser"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Upload": {"type": "object", "required": ["id", "owner_id", "filename", "content_type", "size", "state", "sha256", "created_at", "public", "download_url"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "owner_id": {"$ref": "#/components/schemas/Uuid"}, "filename": {"type": "string"},
      "content_type": {"type": "string", "enum": ["image/jpeg", "image/png", "image/webp", "application/pdf"]},
      "size": {"type": "integer", "minimum": 0}, "state": {"type": "string"}, "sha256": {"type": ["string", "null"], "pattern": "^[0-9a-f]{64}$"},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "public": {"type": "boolean"},
      "download_url": {"type": ["string", "null"], "description": "signed, once the bytes are stored"}}},
  "Refund": {"type": "object", "required": ["id", "payment_id", "booking_id", "amount_cents", "currency", "status", "created_at", "updated_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "payment_id": {"$ref": "#/components/schemas/Uuid"}, "booking_id": {"$ref": "#/components/schemas/Uuid"}, "amount_cents": {"type": "integer", "minimum": 0},
      "currency": {"$ref": "#/components/schemas/Currency"}, "status": {"type": "string"}, "reason": {"type": ["string", "null"]},
      "stripe_refund_id": {"type": ["string", "null"]}, "failure_reason": {"type": ["string", "null"]},
      "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "Payment": {"type": "object", "required": ["id", "booking_id", "method", "status", "amount_cents", "currency", "created_at", "updated_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "booking_id": {"$ref": "#/components/schemas/Uuid"}, "method": {"type": "string"}, "status": {"type": "string"},
      "amount_cents": {"type": "integer", "minimum": 0}, "currency": {"$ref": "#/components/schemas/Currency"},
      "stripe_payment_intent_id": {"type": ["string", "null"]},
      "client_secret": {"type": ["string", "null"], "description": "to the paying member, when the payment is created"},
      "checkout_session_id": {"type": ["string", "null"]}, "amount_received_cents": {"type": ["integer", "null"]},
      "refunded_cents": {"type": ["integer", "null"]}, "last_error": {}, "flags": {},
      "succeeded_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "refunds": {"type": "array", "items": {"$ref": "#/components/schemas/Refund"}}}},
  "Message": {"type": "object", "additionalProperties": false, "required": ["id", "conversation_id", "sender_id", "body", "created_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "conversation_id": {"$ref": "#/components/schemas/Uuid"}, "sender_id": {"$ref": "#/components/schemas/Uuid"},
      "body": {"type": "string", "minLength": 1, "maxLength": 4000}, "created_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "MessagePage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Conversation": {"type": "object", "additionalProperties": false,
    "required": ["id", "space_id", "member_id", "host_id", "last_message", "unread_count", "last_message_at", "created_at"],
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "space_id": {"$ref": "#/components/schemas/Uuid"}, "member_id": {"$ref": "#/components/schemas/Uuid"}, "host_id": {"$ref": "#/components/schemas/Uuid"},
      "last_message": {"oneOf": [{"$ref": "#/components/schemas/Message"}, {"type": "null"}]},
      "unread_count": {"type": "integer", "minimum": 0}, "last_message_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "ConversationPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Conversation"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Review": {"type": "object", "required": ["id", "space_id", "author_id", "author_name", "rating", "body", "answer", "answered_at", "created_at", "updated_at"],
    "description": "its author and admins also see booking_id, editable_until and the hiding",
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "space_id": {"$ref": "#/components/schemas/Uuid"}, "author_id": {"$ref": "#/components/schemas/Uuid"}, "author_name": {"type": ["string", "null"]},
      "rating": {"type": "integer", "minimum": 1, "maximum": 5}, "body": {"type": "string", "maxLength": 2000},
      "answer": {"type": ["string", "null"], "maxLength": 2000}, "answered_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "booking_id": {"$ref": "#/components/schemas/Uuid"}, "editable_until": {"$ref": "#/components/schemas/Timestamp"}, "hidden": {"type": "boolean"}, "hidden_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]},
      "hidden_reason": {"type": ["string", "null"]}}},
  "ReviewPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Review"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Post": {"type": "object", "required": ["id", "slug", "title", "excerpt", "tags", "locale", "cover", "markdown", "html", "published_at", "updated_at"],
    "description": "admins also see status, author_id, created_at and old_slugs",
    "properties": {"id": {"$ref": "#/components/schemas/Uuid"}, "slug": {"type": "string"}, "title": {"type": "string"}, "excerpt": {"type": ["string", "null"]},
      "tags": {"type": ["array", "null"], "items": {"type": "string"}}, "locale": {"type": "string", "enum": ["en", "fr"]},
      "cover": {"oneOf": [{"$ref": "#/components/schemas/Photo"}, {"type": "null"}]},
      "markdown": {"type": ["string", "null"]}, "html": {"type": ["string", "null"]}, "published_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "status": {"type": "string", "enum": ["draft", "scheduled", "published"]}, "author_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"},
      "old_slugs": {"type": "array", "items": {"type": "string"}}}},
  "PostPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Post"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Event": {"type": "object", "additionalProperties": false, "required": ["type", "id", "data"],
    "properties": {"type": {"type": "string", "examples": ["message.created"]}, "id": {"type": "string", "description": "its position, increasing"},
      "data": {"type": "object"}}},
  "AuditEntry": {"type": "object", "additionalProperties": false,
    "required": ["id", "at", "actor_id", "action", "entity", "entity_id", "changed", "before", "after"],
    "properties": {"id": {"type": "string"}, "at": {"$ref": "#/components/schemas/Timestamp"}, "actor_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "action": {"type": "string"}, "entity": {"type": "string"},
      "entity_id": {"type": ["string", "null"]}, "changed": {}, "before": {}, "after": {}}},
  "AuditPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "OutboxCall": {"type": "object", "additionalProperties": false,
    "required": ["id", "kind", "purpose", "method", "path", "status", "attempts", "next_attempt_at", "last_error", "response_status", "created_at", "updated_at"],
    "properties": {"id": {"type": "integer"}, "kind": {"type": "string", "enum": ["stripe", "email", "s3"]}, "purpose": {"type": ["string", "null"]},
      "method": {"type": ["string", "null"]}, "path": {"type": ["string", "null"]},
      "status": {"type": "string", "enum": ["pending", "done", "failed", "dead"]}, "attempts": {"type": "integer", "minimum": 0},
      "next_attempt_at": {"oneOf": [{"$ref": "#/components/schemas/Timestamp"}, {"type": "null"}]}, "last_error": {"type": ["string", "null"]}, "response_status": {"type": ["integer", "null"]},
      "booking_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "payment_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "refund_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "OutboxPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/OutboxCall"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Email": {"type": "object", "required": ["id", "to", "subject", "template", "locale", "status", "attempts", "created_at", "updated_at"],
    "description": "one mail of the outbox; GET /api/v1/admin/emails/{id} adds its rendered text and html",
    "properties": {"id": {"type": "integer"}, "to": {"type": ["string", "null"]}, "subject": {"type": ["string", "null"]},
      "template": {"type": ["string", "null"]}, "locale": {"type": ["string", "null"]},
      "status": {"type": "string", "enum": ["pending", "done", "failed", "dead"]}, "attempts": {"type": "integer", "minimum": 0},
      "last_error": {"type": ["string", "null"]}, "response_status": {"type": ["integer", "null"]},
      "idempotency_key": {"type": ["string", "null"]}, "booking_id": {"oneOf": [{"$ref": "#/components/schemas/Uuid"}, {"type": "null"}]}, "created_at": {"$ref": "#/components/schemas/Timestamp"}, "updated_at": {"$ref": "#/components/schemas/Timestamp"},
      "text": {"type": ["string", "null"]}, "html": {"type": ["string", "null"]}}},
  "EmailPage": {"type": "object", "additionalProperties": false, "required": ["data", "next_cursor"],
    "properties": {"data": {"type": "array", "items": {"$ref": "#/components/schemas/Email"}},
      "next_cursor": {"$ref": "#/components/schemas/Cursor"}}},
  "EmailTemplate": {"type": "object", "additionalProperties": false,
    "required": ["key", "locale", "custom", "subject", "text", "html", "placeholders", "updated_at"],
    "properties": {"key": {"type": "string"}, "locale": {"type": "string", "enum": ["en", "fr"]}, "custom": {"type": "boolean"},
      "subject": {"type": "string"}, "text": {"type": "string"}, "html": {"type": "string"},
      "placeholders": {"type": "array", "items": {"type": "string"}}, "updated_at": {"$ref": "#/components/schemas/Timestamp"}}},
  "StatsReport": {"type": "object", "required": ["from", "to", "bookings", "revenue", "occupancy", "top_spaces", "new_users"],
    "description": "?format=csv: the same as text/csv rows",
    "properties": {"from": {"$ref": "#/components/schemas/Timestamp"}, "to": {"$ref": "#/components/schemas/Timestamp"},
      "bookings": {"type": "object", "required": ["total", "by_status"],
        "properties": {"total": {"type": "integer"}, "by_status": {"type": "object", "additionalProperties": {"type": "integer"}}}},
      "revenue": {"type": "array", "items": {"type": "object"}}, "occupancy": {"type": "array", "items": {"type": "object"}},
      "top_spaces": {"type": "array", "items": {"type": "object"}},
      "new_users": {"type": ["array", "null"], "items": {"type": "object"}, "description": "null in a host''s report"}}}
}'::jsonb AS c) AS c) AS c
$$;

COMMENT ON FUNCTION workon.openapi_components() IS
'The JSON Schemas the routes of workon.route_schemas share, published under components.schemas of the OpenAPI document';

/*
 * workon.openapi() returns jsonb
 *
 * The OpenAPI 3.1 document of the HTTP API, generated on every call from
 * workon.routes and the handlers' catalog entries: summary from the route,
 * description from COMMENT ON FUNCTION, parameters and request body fields
 * from the argument names and types (path template names are path
 * parameters; on a route without a JSON body the other arguments are query
 * parameters; with one, they are the body's fields, or the whole body for an
 * argument named "body"; "meta" is the request meta, never a parameter).
 */
CREATE FUNCTION workon.openapi()
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	paths jsonb := workon.openapi_builtin_paths();
	op jsonb;
	params jsonb;
	props jsonb;
	required jsonb;
	responses jsonb;
	a record;
	path_params text[];
	has_body_arg boolean;
	body_type regtype;
	tag text;
	st text;
	sch jsonb;
BEGIN
	FOR r IN
		SELECT rt.method, rt.path, rt.auth, rt.status, rt.body, rt.summary, rt.rate_limit, rt.read_only,
			   p.oid AS fn, p.proname::text AS fname, p.pronargs, p.pronargdefaults,
			   p.prorettype = 'bytea'::regtype AS returns_file,
			   p.prosrc,
			   'format' = ANY (p.proargnames) AS has_format,
			   obj_description(p.oid, 'pg_proc') AS description,
			   rs.schemas,
			   row_number() OVER (PARTITION BY p.proname ORDER BY rt.path, rt.method) AS nth
		  FROM workon.routes rt
		  JOIN pg_proc p ON p.oid = rt.handler
		  LEFT JOIN workon.route_schemas rs ON rs.method = rt.method AND rs.path = rt.path
		 ORDER BY rt.path, rt.method
	LOOP
		path_params := ARRAY(SELECT m[1] FROM regexp_matches(r.path, '\{([a-z_][a-z0-9_]*)\}', 'g') AS m);
		params := '[]';
		props := '{}';
		required := '[]';
		has_body_arg := false;
		body_type := NULL;
		FOR a IN
			SELECT (SELECT pp.proargnames[n] FROM pg_proc pp WHERE pp.oid = r.fn) AS name,
				   t::regtype AS typ, n,
				   n <= r.pronargs - r.pronargdefaults AS no_default
			  FROM unnest((SELECT pp.proargtypes::oid[] FROM pg_proc pp WHERE pp.oid = r.fn)) WITH ORDINALITY AS u(t, n)
		LOOP
			CONTINUE WHEN a.name IS NULL OR a.name = 'meta';
			IF a.name = ANY (path_params) THEN
				params := params || jsonb_build_object('name', a.name, 'in', 'path', 'required', true,
													   'schema', coalesce(r.schemas #> ARRAY['path', a.name],
																		  workon.openapi_schema(a.typ)));
			ELSIF a.name = 'body' THEN
				has_body_arg := true;
				body_type := a.typ;
			ELSIF r.body = 'json' THEN
				props := props || jsonb_build_object(a.name, workon.openapi_schema(a.typ));
				IF a.no_default THEN
					required := required || to_jsonb(a.name);
				END IF;
			ELSE
				params := params || jsonb_build_object('name', a.name, 'in', 'query', 'required', a.no_default,
													   'schema', coalesce(r.schemas #> ARRAY['query', a.name],
																		  workon.openapi_schema(a.typ)));
			END IF;
		END LOOP;
		-- declared query parameters the handler reads from elsewhere (its meta)
		FOR st, sch IN SELECT * FROM jsonb_each(coalesce(r.schemas -> 'query', '{}')) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', st, 'in', 'query')) THEN
				params := params || jsonb_build_object('name', st, 'in', 'query', 'required', false, 'schema', sch);
			END IF;
		END LOOP;
		-- a template name the handler does not take is still a path parameter
		FOR i IN 1 .. coalesce(array_length(path_params, 1), 0) LOOP
			IF NOT params @> jsonb_build_array(jsonb_build_object('name', path_params[i], 'in', 'path')) THEN
				params := params || jsonb_build_object('name', path_params[i], 'in', 'path', 'required', true,
													   'schema', coalesce(r.schemas #> ARRAY['path', path_params[i]],
																		  '{"type": "string"}'::jsonb));
			END IF;
		END LOOP;
		-- every POST may be sent again safely (workon.dispatch_idempotent)
		IF r.method = 'POST' THEN
			params := params || '{"name": "Idempotency-Key", "in": "header", "required": false,
				"description": "1-255 visible ASCII characters, unique per request: the same key and request within 24 hours get the stored answer; another request with the key is 422 idempotency_key_reused, one while the first still runs 409 idempotency_key_in_use",
				"schema": {"type": "string", "minLength": 1, "maxLength": 255}}'::jsonb;
		END IF;

		tag := CASE WHEN r.path LIKE '/api/v1/%' THEN split_part(r.path, '/', 4)
					WHEN r.path LIKE '/api/%' THEN split_part(r.path, '/', 3)
					ELSE split_part(r.path, '/', 2) END;
		op := jsonb_build_object(
			'operationId', CASE WHEN r.nth = 1 THEN r.fname ELSE r.fname || '_' || r.nth END,
			'summary', r.summary,
			'tags', jsonb_build_array(tag),
			'x-workon-auth', r.auth,
			'x-workon-handler', r.fn::regprocedure::text,
			'security', CASE WHEN r.auth = 'none' THEN '[{}, {"bearerAuth": []}]'::jsonb
							 ELSE '[{"bearerAuth": []}]'::jsonb END);
		IF r.description IS NOT NULL THEN
			op := op || jsonb_build_object('description', r.description);
		END IF;
		IF jsonb_array_length(params) > 0 THEN
			op := op || jsonb_build_object('parameters', params);
		END IF;
		IF r.body = 'json' THEN
			op := op || jsonb_build_object('requestBody', jsonb_build_object(
				'required', has_body_arg OR jsonb_array_length(required) > 0,
				'content', jsonb_build_object('application/json', jsonb_build_object('schema',
					CASE WHEN r.schemas ? 'body' THEN r.schemas -> 'body'
						 WHEN has_body_arg THEN workon.openapi_schema(body_type)
						 ELSE jsonb_build_object('type', 'object', 'properties', props)
							  || CASE WHEN jsonb_array_length(required) > 0
									  THEN jsonb_build_object('required', required) ELSE '{}' END
					END))));
		ELSIF r.body = 'raw' THEN
			op := op || '{"requestBody": {"required": true, "content": {"*/*": {"schema": {"type": "string"}}}}}'::jsonb;
		ELSIF r.body = 'bytes' THEN
			op := op || '{"requestBody": {"required": true, "content": {"application/octet-stream":
				{"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}}}'::jsonb;
		END IF;

		IF r.body = 'websocket' THEN
			-- the token may also come as ?access_token= (RFC 6750), as browsers cannot set headers
			op := op || jsonb_build_object('parameters', params || '[{"name": "access_token", "in": "query", "required": false,
				"description": "the access token, when no Authorization header can be sent", "schema": {"type": "string"}}]'::jsonb);
			responses := jsonb_build_object('101', jsonb_build_object('description', r.summary
				|| ': Switching Protocols, then a WebSocket of text frames {"type", "id", "data"}'),
											'426', '{"$ref": "#/components/responses/Error"}'::jsonb);
		ELSE
			responses := jsonb_build_object(r.status::text,
				CASE WHEN r.status = 204 THEN jsonb_build_object('description', 'No Content')
					 WHEN r.returns_file THEN jsonb_build_object('description', r.summary,
											 'content', '{"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}'::jsonb)
					 ELSE jsonb_build_object('description', r.summary,
											 'content', '{"application/json": {"schema": {}}}'::jsonb
												-- ?format=csv: the same as text/csv
												|| CASE WHEN r.has_format THEN '{"text/csv": {"schema": {"type": "string"}}}'::jsonb
														ELSE '{}' END) END);
		END IF;
		IF r.returns_file THEN
			-- a file: conditional and range requests (ETag, If-None-Match, Range);
			-- one in the S3 store is a redirect to the bucket
			responses := responses
				|| '{"206": {"description": "Partial Content: the one byte range asked for (bytes=a-b, a- or -n), with Content-Range: bytes a-b/size; only that part is read. Several ranges, another unit or a malformed Range get 200 and the whole file",
							 "headers": {"Content-Range": {"schema": {"type": "string"}}},
							 "content": {"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}},
					 "302": {"description": "Found: the file is in the S3 store (UPLOAD_STORE=s3); Location is a presigned URL of the bucket, valid 300 s, that signs only the host: send Range (and If-None-Match, with the bucket''s ETag) to it"},
					 "304": {"description": "Not Modified: If-None-Match matched the ETag; answered from the file''s metadata"},
					 "416": {"description": "Range Not Satisfiable: the range starts past the end of the file; Content-Range: bytes */size",
							 "headers": {"Content-Range": {"schema": {"type": "string"}}}}}'::jsonb;
			op := jsonb_set(op, '{parameters}', coalesce(op -> 'parameters', '[]') || '[
				{"name": "If-None-Match", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "entity tags (or *): 304 when one is the file''s ETag"},
				{"name": "Range", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "one byte range, bytes=a-b, a- or -n: 206 with that part"},
				{"name": "If-Range", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "the ETag the client has: Range applies only when it is still the file''s"}]'::jsonb);
		END IF;
		IF r.status = 201 THEN
			-- what was created is named in Location
			responses := jsonb_set(responses, '{201,headers}',
				'{"Location": {"description": "The URL of what was created", "schema": {"type": "string"}}}');
		END IF;
		IF r.method = 'GET' AND r.auth = 'none' AND NOT r.returns_file THEN
			-- a public read carries a strong ETag of its body (the front end's)
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the ETag of an anonymous read"}}';
		END IF;
		IF r.prosrc ~ 'workon\.public_cache\(' THEN
			-- the handler sets a strong ETag and Cache-Control for every reader
			responses := responses || '{"304": {"description": "Not Modified: If-None-Match matched the strong ETag of the answer (any reader; Cache-Control: public)"}}';
		END IF;
		IF r.prosrc ~ 'set_response\(301\M' THEN
			-- the handler answers a former address with the current one
			responses := responses || '{"301": {"description": "Moved Permanently: a former address; Location is the current one"}}';
		END IF;
		IF r.status = 201 AND r.prosrc ~ 'set_response\(200\M' THEN
			-- the handler answers 200 with what exists already (a repeat)
			responses := responses || jsonb_build_object('200', jsonb_build_object('description',
				'OK: it exists already (a repeat), the same representation', 'content', '{"application/json": {"schema": {}}}'::jsonb));
		END IF;
		-- any other status the handler sets with a literal (workon.set_response)
		FOR st IN SELECT DISTINCT m[1] FROM regexp_matches(r.prosrc, 'set_response\(([1-5][0-9][0-9])\M', 'g') AS m LOOP
			IF NOT responses ? st THEN
				responses := responses || jsonb_build_object(st, jsonb_build_object('description', 'set by the handler',
					'content', '{"application/json": {"schema": {}}}'::jsonb));
			END IF;
		END LOOP;
		IF r.status = 200 AND (r.method IN ('POST', 'PUT', 'PATCH', 'DELETE') OR r.schemas IS NULL) THEN
			-- the handler may return nothing (a route that declares no schemas: any)
			responses := responses || '{"204": {"description": "No Content"}}';
		END IF;
		-- 431: the front end refuses headers over MAX_HEADER_BYTES before any route
		responses := responses
			|| '{"400": {"$ref": "#/components/responses/Error"},
				 "401": {"$ref": "#/components/responses/Unauthorized"},
				 "431": {"$ref": "#/components/responses/Error"},
				 "500": {"$ref": "#/components/responses/Error"},
				 "503": {"$ref": "#/components/responses/Error"}}'::jsonb;
		IF r.rate_limit <> 'exempt' THEN
			responses := responses || '{"429": {"$ref": "#/components/responses/RateLimited"}}';
		END IF;
		IF r.auth <> 'none' OR r.returns_file OR r.body = 'bytes' THEN
			responses := responses || '{"403": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF array_length(path_params, 1) > 0 OR r.method <> 'GET' THEN
			responses := responses || '{"404": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method <> 'GET' THEN
			responses := responses || '{"409": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.method = 'POST' THEN
			responses := responses || '{"422": {"$ref": "#/components/responses/Error"}}';
		END IF;
		IF r.body IN ('json', 'raw', 'bytes') THEN
			responses := responses || '{"413": {"$ref": "#/components/responses/Error"},
										"415": {"$ref": "#/components/responses/Error"}}';
		END IF;
		-- the route's own error codes (workon.errors rows of SQLSTATE WO...): raised in
		-- the handler's body, or named by its comment
		FOR st, sch IN
			SELECT e.status::text, to_jsonb(string_agg(DISTINCT e.code, ', ' ORDER BY e.code))
			  FROM workon.errors e
			 WHERE e.sqlstate ~ '^WO' AND e.sqlstate <> 'WO405'
			   AND (strpos(r.prosrc, chr(39) || e.sqlstate || chr(39)) > 0
					OR coalesce(r.description, '') ~ ('\m(' || e.sqlstate || '|' || e.code || ')\M'))
			 GROUP BY e.status
		LOOP
			responses := jsonb_set(responses, ARRAY[st],
				coalesce(responses -> st, '{"$ref": "#/components/responses/Error"}')
				|| jsonb_build_object('description', 'error codes of this route: ' || (sch #>> '{}')
									  || CASE WHEN st = '401' AND NOT (sch #>> '{}') ~ '\munauthorized\M'
											  THEN ', unauthorized' ELSE '' END));
		END LOOP;
		-- read replicas (the front end's DATABASE_REPLICA_URLS): an answer from the primary
		-- carries the position of its commit, a read_only route takes it back
		IF r.read_only THEN
			op := jsonb_set(op, '{parameters}', coalesce(op -> 'parameters', '[]') || '[
				{"name": "X-Workon-LSN", "in": "header", "required": false, "schema": {"type": "string"},
				 "description": "the X-Workon-LSN of this client''s last write: no read replica that has not replayed it answers"},
				{"name": "workon_lsn", "in": "cookie", "required": false, "schema": {"type": "string"},
				 "description": "the same, when there is no X-Workon-LSN header"}]'::jsonb);
		ELSIF responses ? r.status::text THEN
			responses := jsonb_set(responses, ARRAY[r.status::text, 'headers'],
				coalesce(responses #> ARRAY[r.status::text, 'headers'], '{}') || '{
				"X-Workon-LSN": {"$ref": "#/components/headers/X-Workon-LSN"},
				"Set-Cookie": {"description": "with read replicas: workon_lsn=<X-Workon-LSN>; Path=/; Max-Age=<seconds>; HttpOnly; SameSite=Lax", "schema": {"type": "string"}}}');
		END IF;
		-- the declared answers: the schema of a status's JSON body, or a status of its own
		FOR st, sch IN SELECT * FROM jsonb_each(coalesce(r.schemas -> 'responses', '{}')) LOOP
			IF responses ? st AND responses -> st ? '$ref' THEN
				CONTINUE;
			END IF;
			responses := jsonb_set(responses, ARRAY[st], coalesce(responses -> st,
				jsonb_build_object('description', CASE WHEN st = '200' THEN 'OK' WHEN st = '201' THEN 'Created'
													   WHEN st = '202' THEN 'Accepted' ELSE r.summary END))
				|| jsonb_build_object('content', coalesce(responses #> ARRAY[st, 'content'], '{}')
					|| jsonb_build_object('application/json', jsonb_build_object('schema', sch))));
		END LOOP;
		IF r.schemas IS NULL THEN
			op := op || '{"x-workon-schemas": "undeclared"}';
		END IF;
		op := op || jsonb_build_object('responses', responses);

		paths := jsonb_set(paths, ARRAY[r.path],
						   coalesce(paths -> r.path, '{}') || jsonb_build_object(lower(r.method), op));
	END LOOP;

	RETURN jsonb_build_object(
		'openapi', '3.1.0',
		'info', jsonb_build_object(
			'title', 'workon API',
			'version', (SELECT e.extversion FROM pg_extension e WHERE e.extname = 'workon'),
			'license', '{"name": "PostgreSQL License", "identifier": "PostgreSQL"}'::jsonb,
			'description', 'The HTTP API of workon, a workspace marketplace whose rules live in PostgreSQL. '
				|| 'Generated from the route table workon.routes and the handlers'' documentation. '
				|| 'Errors are {"error": {"code", "message", "details"}}; every response carries X-Request-Id; '
				|| 'rate-limited routes carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.'),
		'servers', '[{"url": "/"}]'::jsonb,
		'paths', paths,
		'components', jsonb_build_object(
			'securitySchemes', '{"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}'::jsonb,
			'schemas', workon.openapi_components() || jsonb_build_object('Error', jsonb_build_object(
				'type', 'object',
				'required', '["error"]'::jsonb,
				'properties', jsonb_build_object('error', jsonb_build_object(
					'type', 'object',
					'required', '["code", "message", "details"]'::jsonb,
					'properties', jsonb_build_object(
						'code', jsonb_build_object('type', 'string',
							'description', 'snake_case; from workon.errors: '
								|| (SELECT string_agg(DISTINCT e.code, ', ' ORDER BY e.code) FROM workon.errors e)
								|| '; from the front end: invalid_json, payload_too_large, unsupported_media_type, '
								|| 'method_not_allowed, rate_limited, headers_too_large, upgrade_required, internal, unavailable'),
						'message', '{"type": "string"}'::jsonb,
						'details', '{"type": "object",
							"description": "field: the offending parameter or field (the first); fields: every invalid field of the request, where a route checks them all (registration, spaces, bookings)",
							"properties": {"field": {"type": "string"},
										   "fields": {"type": "array", "items": {"type": "object", "required": ["field", "message"],
													  "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}}}'::jsonb))))),
			'headers', '{
				"X-Request-Id": {"description": "the client''s X-Request-Id when it is 1-128 characters of [A-Za-z0-9._-], else a new one", "schema": {"type": "string"}},
				"Retry-After": {"description": "seconds", "schema": {"type": "integer"}},
				"X-Workon-LSN": {"description": "with read replicas: the WAL position of this request''s commit on the primary (0/3A2F1B8); sent back on reads, no replica that has not replayed it answers", "schema": {"type": "string"}},
				"RateLimit-Limit": {"schema": {"type": "integer"}},
				"RateLimit-Remaining": {"schema": {"type": "integer"}},
				"RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}}}'::jsonb,
			'responses', '{
				"Error": {"description": "an error", "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"Unauthorized": {"description": "unauthorized: no token on a route that needs one, or a token that is not valid (WWW-Authenticate: Bearer)",
					"headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
				"RateLimited": {"description": "rate_limited",
					"headers": {"Retry-After": {"$ref": "#/components/headers/Retry-After"},
								"RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
								"RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
								"RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"}},
					"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}'::jsonb));
END
$$;

COMMENT ON FUNCTION workon.openapi() IS
'The OpenAPI 3.1 document of the HTTP API, generated from workon.routes, the handlers'' COMMENT ON FUNCTION and their argument names and types; served by the front end at GET /api/v1/openapi.json';

GRANT EXECUTE ON FUNCTION workon.openapi_schema(regtype), workon.openapi_builtin_paths(), workon.openapi_components(),
	workon.openapi()
	TO workon_authenticator, workon_anon, workon_member, workon_host, workon_admin;
