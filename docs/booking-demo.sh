#!/usr/bin/env bash
# The booking flow end to end with curl and jq, against a running server:
#   cargo run -- seed && cargo run -- serve      (then, in another shell)
#   bash docs/booking-demo.sh
# Charges a wallet, joins concert 1's queue, waits to be admitted, looks at the seats,
# holds one, pays, and shows the seat SOLD, the balance reduced, the token EXPIRED and
# the concert in the sales ranking. BASE (default http://127.0.0.1:8080) and USER_ID
# (default: a fresh one per run) can be set.
set -euo pipefail

BASE=${BASE:-http://127.0.0.1:8080}
USER_ID=${USER_ID:-$(( $(date +%s%N) / 1000 % 1000000000 + 1000 ))}
CONCERT=1
AMOUNT=500000

step() { printf '\n== %s\n' "$*"; }
fail() { echo "demo failed: $*" >&2; exit 1; }
# call METHOD PATH [BODY] [TOKEN]: prints the body, fails on a non-2xx status.
call() {
  local method=$1 path=$2 body=${3:-} token=${4:-} out status
  local args=(-sS -X "$method" -H 'Content-Type: application/json' -w '\n%{http_code}')
  [[ -n $body ]] && args+=(-d "$body")
  [[ -n $token ]] && args+=(-H "Authorization: Bearer $token")
  out=$(curl "${args[@]}" "$BASE$path") || fail "$method $path: no answer from $BASE"
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  [[ $status == 2* ]] || fail "$method $path answered $status: $out"
  printf '%s' "$out"
}
# Joins the queue and waits until the token is ACTIVE, polling as each WAITING answer's
# pollAfterMs advises (polling much sooner is answered 429); prints the token.
admitted_token() {
  local user=$1 answer token deadline=$((SECONDS + 60))
  answer=$(call POST /api/queue/token "{\"userId\": $user, \"concertId\": $CONCERT}")
  token=$(jq -r .token <<<"$answer")
  while [[ $(jq -r .status <<<"$answer") != ACTIVE && $SECONDS -lt $deadline ]]; do
    sleep "$(jq -r '(.pollAfterMs // 1000) / 1000' <<<"$answer")"
    answer=$(call GET /api/queue/status "" "$token")
  done
  [[ $(jq -r .status <<<"$answer") == ACTIVE ]] ||
    fail "user $user was not admitted within a minute"
  printf '%s' "$token"
}

step "charge user $USER_ID's wallet with $AMOUNT won"
call POST "/api/users/$USER_ID/balance/charge" "{\"amount\": $AMOUNT}" | jq -c .
before=$(call GET "/api/users/$USER_ID/balance" | jq .balance)

step "join concert $CONCERT's queue and wait to be admitted"
TOKEN=$(admitted_token "$USER_ID")
call GET /api/queue/status "" "$TOKEN" | jq -c .

step "pick a schedule with seats left"
SCHEDULE=$(call GET "/api/concerts/$CONCERT/schedules" |
  jq -r '[.schedules[] | select(.availableSeats > 0)][0].id // empty')
[[ -n $SCHEDULE ]] || fail "concert $CONCERT is sold out; seed a fresh REDIS_KEY_PREFIX"
call GET "/api/concerts/$CONCERT/schedules" | jq -c ".schedules[] | select(.id == $SCHEDULE)"

step "see schedule $SCHEDULE's seats"
SEATS=$(call GET "/api/schedules/$SCHEDULE/seats" "" "$TOKEN")
jq -c '{scheduleId, availableSeats, first: .seats[0]}' <<<"$SEATS"
SEAT=$(jq -r '[.seats[] | select(.status == "AVAILABLE")][0].seatNo' <<<"$SEATS")

step "hold seat $SEAT"
HOLD=$(call POST /api/reservations "{\"scheduleId\": $SCHEDULE, \"seatNo\": $SEAT}" "$TOKEN")
jq -c . <<<"$HOLD"
RESERVATION=$(jq -r .reservationId <<<"$HOLD")
PRICE=$(jq .price <<<"$HOLD")

step "pay reservation $RESERVATION"
call POST /api/payments "{\"reservationId\": \"$RESERVATION\"}" "$TOKEN" | jq -c .

step "the seat is SOLD (seen by another admitted buyer)"
VIEWER=$(admitted_token $((USER_ID + 1)))
status=$(call GET "/api/schedules/$SCHEDULE/seats" "" "$VIEWER" |
  jq -r ".seats[] | select(.seatNo == $SEAT) | .status")
echo "seat $SEAT: $status"
[[ $status == SOLD ]] || fail "seat $SEAT is $status"

step "the balance is reduced by the price"
after=$(call GET "/api/users/$USER_ID/balance" | jq .balance)
echo "balance: $before -> $after (price $PRICE)"
[[ $after -eq $((before - PRICE)) ]] || fail "balance $after, expected $((before - PRICE))"

step "the token has ended"
token_status=$(call GET /api/queue/status "" "$TOKEN" | jq -r .status)
echo "token: $token_status"
[[ $token_status == EXPIRED ]] || fail "token is $token_status"

step "concert $CONCERT is in the sales ranking"
RANKING=$(call GET '/api/concerts/ranking?by=sales&limit=10')
jq -c ".ranking[] | select(.concertId == $CONCERT)" <<<"$RANKING"
[[ -n $(jq ".ranking[] | select(.concertId == $CONCERT)" <<<"$RANKING") ]] ||
  fail "concert $CONCERT is not ranked"

printf '\nThe booking flow works.\n'
