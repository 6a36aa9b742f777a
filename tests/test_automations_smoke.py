from tests.automation_support import all_ended, install_stand_ins, pump_until, runs_of, wait_execution


def test_smoke(api, account, monkeypatch):
    contacts, sending = install_stand_ins(monkeypatch)
    acct, _ = account
    r = api.post("/api/automations", {"name": "Welcome", "trigger_type": "contact_created", "steps": [
        {"type": "send_email", "template_id": 1, "subject": "Hi"},
        {"type": "time_delay", "amount": 1, "unit": "days"},
        {"type": "conditional_split", "conditions": [{"field": "plan", "operator": "is", "value": "pro"}],
         "yes": [{"type": "send_email", "template_id": 2}], "no": [{"type": "send_email", "template_id": 3}]},
    ]})
    assert r.status == 201, r
    aid = r.json["id"]
    r = api.post(f"/api/automations/{aid}/activate", {"active": True})
    assert r.status == 200, r
    assert r.json["status"] == "active"
    c = contacts.add(acct.account_id, "a@x.com", {"plan": "pro"})
    r = api.post(f"/api/automations/{aid}/trigger", {"contact_id": c.id})
    assert r.status == 201, r
    pump_until(all_ended(acct.account_id, aid, 1))
    run = runs_of(acct.account_id, aid)[0]
    assert run.status == "completed", run.attribute_values
    assert [s.template_id for s in sending.sent] == [1, 2]
    assert wait_execution(run) == "SUCCEEDED"
    print(api.get(f"/api/automations/{aid}/runs").json)
    print(api.get(f"/api/automations/{aid}/stats").json)
