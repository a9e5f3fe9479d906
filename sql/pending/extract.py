import re,sys
src=open('sql/workon.sql').read()
def fn(name):
    a=src.index('CREATE FUNCTION workon.%s('%name)
    b=src.index('COMMENT ON FUNCTION workon.%s('%name,a)
    c=src.index("';\n",b)+3
    return src[a:c]
out=[]
def rep(name, pairs):
    t=fn(name)
    for old,new in pairs:
        assert old in t,(name,old)
        t=t.replace(old,new,1)
    t=t.replace('CREATE FUNCTION','CREATE OR REPLACE FUNCTION',1)
    out.append(t)
rep('user_json',[("		'role', u.role,\n","		'role', u.role,\n		'email_verified', u.email_verified_at IS NOT NULL,\n		'locale', workon.user_locale(u.locale),\n"),
  ('''{"id","email","name","role","created_at","updated_at"}''','''{"id","email","name","role","email_verified","locale","created_at","updated_at"} (locale: the language of their e-mails)''')])
rep('auth_register',[('''AS $$
BEGIN''','''AS $$
DECLARE
	v_id		uuid;
BEGIN'''),('''	RETURN workon.session_issue(
		workon.create_user(auth_register.email, auth_register.password,
						   auth_register.name, COALESCE(auth_register.role, 'member')));''','''	v_id := workon.create_user(auth_register.email, auth_register.password,
							   auth_register.name, COALESCE(auth_register.role, 'member'));
	PERFORM workon.email_verification_send(u) FROM workon.users AS u WHERE u.id = v_id;
	RETURN workon.session_issue(v_id);'''),
  ("'POST /api/v1/auth/register: a new member (or host) and its tokens;","'POST /api/v1/auth/register: a new member (or host) and its tokens, and a mail to verify the address;")])
rep('booking_cancel',[('''	 WHERE b.id = v_booking.id
	RETURNING * INTO v_booking;

	IF v_refund.amount_cents > 0 THEN''','''	 WHERE b.id = v_booking.id
	RETURNING * INTO v_booking;
	IF v_status = 'confirmed' OR v_paid > 0 THEN
		PERFORM workon.email_enqueue(v_booking.user_id, 'booking_cancelled',
									 pg_catalog.jsonb_build_object(
										 'booking_id', v_booking.id,
										 'refund_cents', v_refund.amount_cents,
										 'refund_percent', v_refund.percent,
										 'currency', COALESCE(v_pay.received_currency, v_booking.currency)),
									 'booking_cancelled:' || v_booking.id, v_booking.id);
	END IF;

	IF v_refund.amount_cents > 0 THEN'''),
  ("is cancelled at Stripe,","is cancelled at Stripe, a confirmed or paid booking''s member gets a booking_cancelled mail with the refund,")])
rep('refund_start',[('''	PERFORM workon.email_enqueue(p_payment.user_id, 'refund',''','''	-- a cancellation's own mail tells of its refund
	PERFORM workon.email_enqueue(p_payment.user_id, 'refund','''),
  ('''								 'refund:' || v_refund.id, p_payment.booking_id);''','''								 'refund:' || v_refund.id, p_payment.booking_id)
	 WHERE p_reason <> 'requested_by_customer';'''),
  ("and the refund e-mail, in the caller''s transaction","and the refund e-mail (but for a cancellation, whose mail tells of it), in the caller''s transaction")])
rep('outbox_result',[('''			UPDATE workon.outbox AS o
			   SET status = 'done', response_status = p_http_status, last_error = NULL
			 WHERE o.id = v_o.id;''','''			UPDATE workon.outbox AS o
			   SET status = 'done', response_status = p_http_status, last_error = NULL
			 WHERE o.id = v_o.id;
			-- a delivered one-time link is not kept
			IF v_o.kind = 'email' AND (v_o.params ->> 'private')::boolean THEN
				UPDATE workon.outbox AS o
				   SET params = o.params || '{"text": "(removed after delivery: it held a one-time link)", "html": "<p>(removed after delivery: it held a one-time link)</p>"}'
				 WHERE o.id = v_o.id;
			END IF;'''),
 ('''			v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ', p_body #>> '{error,code}',
															p_body #>> '{error,message}'), ''),
								'HTTP ' || p_http_status);
			UPDATE workon.outbox AS o
			   SET status = 'failed', response_status = p_http_status, last_error = v_error''','''			-- Stripe's {error: {code, message}}, Resend's {name, message}
			v_error := COALESCE(NULLIF(pg_catalog.concat_ws(': ', p_body #>> '{error,code}',
															p_body #>> '{error,message}'), ''),
								NULLIF(pg_catalog.concat_ws(': ', p_body ->> 'name', p_body ->> 'message'), ''),
								'HTTP ' || p_http_status);
			UPDATE workon.outbox AS o
			   SET status = CASE WHEN v_o.kind = 'email' THEN 'dead' ELSE 'failed' END,
				   response_status = p_http_status, last_error = pg_catalog.left(v_error, 1000)'''),
 ("and marks the row done; 4xx marks it failed with the provider''s error code and message","and marks the row done (a delivered mail that held a one-time link keeps no body); 4xx marks it failed with the provider''s error code and message (a mail: dead, for an admin to retry)")])
t=fn('outbox_error')
t3=t.replace('CREATE FUNCTION workon.outbox_error(p_id bigint, p_error text)','CREATE FUNCTION workon.outbox_error(p_id bigint, p_error text, p_retry_after double precision)')
t3=t3.replace("		IF v_o.attempts >= 8 THEN","		IF v_o.attempts >= (CASE v_o.kind WHEN 'email' THEN 20 ELSE 8 END) THEN")
old="""+ pg_catalog.make_interval(secs => workon.outbox_backoff(GREATEST(o.attempts, 1))),"""
assert old in t3
t3=t3.replace(old,"""+ pg_catalog.make_interval(secs => GREATEST(
										 workon.outbox_backoff(GREATEST(o.attempts, 1)),
										 LEAST(COALESCE(p_retry_after, 0), 3600))),""")
t3=t3.replace("COMMENT ON FUNCTION workon.outbox_error(bigint, text) IS","COMMENT ON FUNCTION workon.outbox_error(bigint, text, double precision) IS")
old="'For the front end: an outbox call failed without an answer (network error, timeout, provider 5xx). The row is due again after workon.outbox_backoff(attempts) seconds, or dead after 8 attempts"
assert old in t3
t3=t3.replace(old,"'For the front end: an outbox call failed without an answer (network error, timeout, provider 5xx or 429). The row is due again after workon.outbox_backoff(attempts) seconds or the provider''s Retry-After (p_retry_after seconds, at most an hour; NULL: none) if longer, or dead after 8 attempts (a mail: 20, about two hours)")
out.append(t3)
t2=t[:t.index('AS $$')]+"""AS $$
BEGIN
	RETURN QUERY SELECT * FROM workon.outbox_error(p_id, p_error, NULL);
END
$$;

"""+t[t.index('COMMENT ON'):]
t2=t2.replace('CREATE FUNCTION','CREATE OR REPLACE FUNCTION')
t2=t2.replace("'For the front end: an outbox call failed without an answer (network error, timeout, provider 5xx). The row is due again after workon.outbox_backoff(attempts) seconds, or dead after 8 attempts","'For the front end: workon.outbox_error(p_id, p_error, NULL). An outbox call failed without an answer (network error, timeout, provider 5xx). The row is due again after workon.outbox_backoff(attempts) seconds, or dead after 8 attempts (a mail: 20)")
out.append(t2)
out.append("""GRANT EXECUTE ON FUNCTION workon.outbox_error(bigint, text, double precision)
	TO workon_authenticator;
""")
open('/tmp/i17_post.sql','w').write('\n'.join(out))
