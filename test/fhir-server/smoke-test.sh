#!/usr/bin/env bash
# Smoke test for a RUNNING HAPI FHIR test server: checks the behaviours TrialMatch CDS relies on.
# Usage: test/fhir-server/smoke-test.sh [base-url]   (default http://127.0.0.1:8089/fhir)
# Needs curl and python3. Exits non-zero on the first failed check. Writes only resources with
# ids starting "smoke-" (and Patient/90210, to prove numeric client ids work).
set -euo pipefail
BASE="${1:-http://127.0.0.1:8089/fhir}"
AUTH=(-H 'Authorization: Bearer xyz')   # the server ignores auth; sending it must not break anything
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
check() { # name, condition-exit-code
  if [ "$2" = 0 ]; then pass=$((pass+1)); echo "ok   - $1"; else fail=$((fail+1)); echo "FAIL - $1"; fi
}
get() { # url -> writes body to $TMP/body, echoes status
  curl -sS -g "${AUTH[@]}" -H 'Accept: application/fhir+json' -o "$TMP/body" -w '%{http_code}' "$1"
}
json() { python3 -c "import json,sys; b=json.load(open('$TMP/body')); print($1)"; }

# 1. Transaction Bundle: Patient + Condition + 30 Observations (15 Hb 718-7, 15 platelets 777-3) via PUT.
python3 - "$TMP/tx.json" <<'PY'
import json, sys
P = "smoke-sle-1"
def put(res):
    return {"resource": res, "request": {"method": "PUT", "url": f"{res['resourceType']}/{res['id']}"}}
entries = [
    put({"resourceType": "Patient", "id": P, "gender": "female", "birthDate": "1985-04-12",
         "name": [{"family": "Smoke", "given": ["Test"]}]}),
    put({"resourceType": "Condition", "id": P + "-sle", "subject": {"reference": "Patient/" + P},
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
         "code": {"coding": [{"system": "http://snomed.info/sct", "code": "55464009", "display": "Systemic lupus erythematosus"}]}}),
]
for i in range(30):
    code, display, unit, val = (("718-7", "Hemoglobin", "g/dL", 10 + i / 10) if i % 2 == 0
                                else ("777-3", "Platelets", "10*3/uL", 150 + i))
    entries.append(put({"resourceType": "Observation", "id": f"{P}-obs-{i}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": "Patient/" + P},
        "effectiveDateTime": f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}T08:00:00Z",
        "valueQuantity": {"value": val, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}))
entries.append(put({"resourceType": "Patient", "id": "90210", "gender": "male"}))
json.dump({"resourceType": "Bundle", "type": "transaction", "entry": entries}, open(sys.argv[1], "w"))
PY
code=$(curl -sS "${AUTH[@]}" -H 'Content-Type: application/fhir+json' -o "$TMP/body" -w '%{http_code}' \
  -X POST --data-binary @"$TMP/tx.json" "$BASE")
check "transaction Bundle (33 PUT entries) -> 200 (got $code)" $([ "$code" = 200 ]; echo $?)
check "transaction-response has 33 entries" $([ "$(json "len(b.get('entry',[]))")" = 33 ]; echo $?)

# 2. Token search with literal '|', _sort=-date, paging with a next link (30 matches > page size 20).
url="$BASE/Observation?patient=smoke-sle-1&code=http://loinc.org|718-7,http://loinc.org|777-3&_sort=-date"
code=$(get "$url")
check "Observation search with literal '|' and _sort=-date -> 200 (got $code)" $([ "$code" = 200 ]; echo $?)
n1=$(json "len(b.get('entry',[]))"); total=$(json "b.get('total')")
check "first page has 20 entries (got $n1; total=$total)" $([ "$n1" = 20 ]; echo $?)
first=$(json "b['entry'][0]['resource']['effectiveDateTime']"); second=$(json "b['entry'][1]['resource']['effectiveDateTime']")
check "sorted newest first ($first >= $second)" $([[ "$first" > "$second" || "$first" = "$second" ]]; echo $?)
next=$(json "next((l['url'] for l in b.get('link',[]) if l['relation']=='next'), '')")
check "Bundle has a next link ($next)" $([ -n "$next" ]; echo $?)
code=$(get "$next"); n2=$(json "len(b.get('entry',[]))")
check "following next link -> 200 with 10 entries (got $code, $n2)" $([ "$code" = 200 ] && [ "$n2" = 10 ]; echo $?)
check "last page has no next link" $([ -z "$(json "next((l['url'] for l in b.get('link',[]) if l['relation']=='next'), '')")" ]; echo $?)

# 3. Other searches/reads the CDS service makes.
for q in "Condition?patient=smoke-sle-1" "MedicationStatement?patient=smoke-sle-1" \
         "MedicationRequest?patient=smoke-sle-1" "Procedure?patient=smoke-sle-1" \
         "Immunization?patient=smoke-sle-1" "Patient/smoke-sle-1" "Patient/90210" \
         "Observation?patient=smoke-sle-1&code=http://loinc.org|718-7&_sort=-date&_count=1"; do
  code=$(get "$BASE/$q"); check "GET $q -> 200 (got $code)" $([ "$code" = 200 ]; echo $?)
done
check "Condition search finds the SLE condition" $(get "$BASE/Condition?patient=smoke-sle-1" >/dev/null; [ "$(json "len(b.get('entry',[]))")" = 1 ]; echo $?)

# 4. Write, then immediately repeat a search: the new resource must be there (no search-result cache).
q="$BASE/MedicationStatement?patient=smoke-sle-1"
get "$q" >/dev/null; before=$(json "len(b.get('entry',[]))")
code=$(curl -sS "${AUTH[@]}" -H 'Content-Type: application/fhir+json' -o "$TMP/body" -w '%{http_code}' -X PUT \
  --data-binary '{"resourceType":"MedicationStatement","id":"smoke-ms-hcq","status":"active","subject":{"reference":"Patient/smoke-sle-1"},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"5521","display":"hydroxychloroquine"}]}}' \
  "$BASE/MedicationStatement/smoke-ms-hcq")
check "PUT MedicationStatement -> 200/201 (got $code)" $([[ "$code" = 200 || "$code" = 201 ]]; echo $?)
get "$q" >/dev/null; after=$(json "len(b.get('entry',[]))")
check "same search right after the write sees it ($before -> $after)" $([ "$after" = $((before+1)) ]; echo $?)
curl -sS "${AUTH[@]}" -o /dev/null -X DELETE "$BASE/MedicationStatement/smoke-ms-hcq"
get "$q" >/dev/null; again=$(json "len(b.get('entry',[]))")
check "same search right after a DELETE no longer sees it ($again)" $([ "$again" = "$before" ]; echo $?)

# Same for a non-empty result set: a new, newest Observation must head the very same sorted search.
code=$(curl -sS "${AUTH[@]}" -H 'Content-Type: application/fhir+json' -o "$TMP/body" -w '%{http_code}' -X PUT \
  --data-binary '{"resourceType":"Observation","id":"smoke-sle-1-obs-new","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]},"subject":{"reference":"Patient/smoke-sle-1"},"effectiveDateTime":"2030-01-01T00:00:00Z","valueQuantity":{"value":9.1,"unit":"g/dL"}}' \
  "$BASE/Observation/smoke-sle-1-obs-new")
get "$url" >/dev/null; top=$(json "b['entry'][0]['resource']['id']")
check "repeated Observation search right after a write is fresh (top=$top)" $([ "$top" = smoke-sle-1-obs-new ]; echo $?)
curl -sS "${AUTH[@]}" -o /dev/null -X DELETE "$BASE/Observation/smoke-sle-1-obs-new"
get "$url" >/dev/null; top=$(json "b['entry'][0]['resource']['id']")
check "...and right after its DELETE it is gone (top=$top)" $([ "$top" != smoke-sle-1-obs-new ]; echo $?)

# 5. Errors come back as OperationOutcome; CORS preflight is answered.
code=$(get "$BASE/Patient/does-not-exist")
check "unknown id -> 404 OperationOutcome (got $code $(json "b['resourceType']"))" $([ "$code" = 404 ] && [ "$(json "b['resourceType']")" = OperationOutcome ]; echo $?)
code=$(get "$BASE/Observation?nonsense-param=1")
check "unknown search param -> 400 OperationOutcome (got $code)" $([ "$code" = 400 ] && [ "$(json "b['resourceType']")" = OperationOutcome ]; echo $?)
hdr=$(curl -sS -o /dev/null -D - -X OPTIONS -H 'Origin: http://localhost:3000' -H 'Access-Control-Request-Method: GET' \
  -H 'Access-Control-Request-Headers: authorization,content-type' "$BASE/Patient" | tr -d '\r')
check "CORS preflight allows any origin + Authorization" $(echo "$hdr" | grep -qi '^access-control-allow-origin: \(\*\|http://localhost:3000\)' && echo "$hdr" | grep -qi '^access-control-allow-headers:.*authorization'; echo $?)

echo "smoke: $pass passed, $fail failed"
[ "$fail" = 0 ]
