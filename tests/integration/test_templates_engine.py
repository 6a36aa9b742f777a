# ruff: noqa: E501  (the guide's templates are quoted verbatim, long lines included)
"""The Handlebars engine against the product's Handlebars guide (seed-B sections 8.2-8.6 and
the acceptance checks 24-36), including where bare pybars3 differs from the guide."""

from __future__ import annotations

import pytest
from pybars import Compiler

from chalicelib.templates import engine, syntax
from chalicelib.templates.engine import TemplateError, render_string


def collapse(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------ the guide's worked examples

BASIC = """<p>Hello {{firstName}} {{lastName}}!</p>
<p>Click this <a href="{{url}}">link</a></p>
<p>{{company.name}}, {{company.adress}}</p>
<p>{{{signature}}}</p>"""
BASIC_DATA = {"firstName": "John", "lastName": "Smith", "url": "http://example.com",
              "company": {"name": "Best Company", "adress": "Its Address"},
              "signature": "<strong>thanks!<strong>"}


def test_basic_replacement_nested_paths_and_triple_braces():
    assert render_string(BASIC, BASIC_DATA) == """<p>Hello John Smith!</p>
<p>Click this <a href="http://example.com">link</a></p>
<p>Best Company, Its Address</p>
<p><strong>thanks!<strong></p>"""


def test_double_braces_escape_html():
    assert render_string("<p>{{signature}}</p>", BASIC_DATA) == "<p>&lt;strong&gt;thanks!&lt;strong&gt;</p>"
    assert render_string("{{v}}", {"v": "& < > \" '"}) == "&amp; &lt; &gt; &quot; &#x27;"


def test_missing_variables_render_empty():
    assert render_string("[{{missing}}][{{a.b.c}}]", {}) == "[][]"
    assert render_string("[{{a.b.c}}]", {"a": "text"}) == "[]"
    assert render_string("[{{items.9}}][{{items.x}}][{{items.0}}]", {"items": ["first"]}) == "[][][first]"


IF_ELSE = """{{#if user.isSubscribed}}
  <p>Hello {{user.name}},</p>
  <p>Thank you for subscribing to our newsletter!</p>
{{else}}
  <p>Hello {{user.name}},</p>
  <p>We noticed that you have not yet subscribed to our newsletter. Click <a href='#'>here</a> to subscribe.</p>
{{/if}}"""
SUBSCRIBED = """  <p>Hello Jane Doe,</p>
  <p>Thank you for subscribing to our newsletter!</p>
"""
NOT_SUBSCRIBED = """  <p>Hello Jane Doe,</p>
  <p>We noticed that you have not yet subscribed to our newsletter. Click <a href='#'>here</a> to subscribe.</p>
"""


@pytest.mark.parametrize("subscribed,expected", [(True, SUBSCRIBED), (False, NOT_SUBSCRIBED)])
def test_if_else_example(subscribed, expected):
    data = {"user": {"name": "Jane Doe", "isSubscribed": subscribed}}
    assert render_string(IF_ELSE, data) == expected  # exact: standalone tag lines vanish


UNLESS_ELSE = """{{#unless user.isSubscribed}}
  <p>Hello {{user.name}},</p>
  <p>We noticed that you have not yet subscribed to our newsletter. Click <a href='#'>here</a> to subscribe.</p>
{{else}}
  <p>Hello {{user.name}},</p>
  <p>Thank you for subscribing to our newsletter!</p>
{{/unless}}"""


@pytest.mark.parametrize("subscribed,expected", [(False, NOT_SUBSCRIBED), (True, SUBSCRIBED)])
def test_unless_else_example(subscribed, expected):
    data = {"user": {"name": "Jane Doe", "isSubscribed": subscribed}}
    assert render_string(UNLESS_ELSE, data) == expected


def test_unless_else_short_form():
    tpl = "{{#unless user.isSubscribed}}A{{else}}B{{/unless}}"
    assert render_string(tpl, {"user": {"isSubscribed": False}}) == "A"
    assert render_string(tpl, {"user": {"isSubscribed": True}}) == "B"


EACH = """{{#each user.items}}
  <p>Item: {{this}}</p>
{{/each}}"""
EACH_ELSE = """{{#each user.items}}
  <p>Item: {{this}}</p>
{{else}}
  <p>No items found</p>
{{/each}}"""


def test_each_example_keeps_one_line_per_item():
    data = {"user": {"name": "Jane Doe", "items": ["Item 1", "Item 2", "Item 3"]}}
    expected = "  <p>Item: Item 1</p>\n  <p>Item: Item 2</p>\n  <p>Item: Item 3</p>\n"
    assert render_string(EACH, data) == expected
    assert render_string(EACH_ELSE, data) == expected


@pytest.mark.parametrize("items", [[], {}, None, "absent"])
def test_each_else_when_empty_or_missing(items):
    data = {"user": {"name": "Jane Doe"} if items == "absent" else {"name": "Jane Doe", "items": items}}
    out = render_string(EACH_ELSE, data)
    assert out == "  <p>No items found</p>\n"
    assert collapse(out) == "<p>No items found</p>"  # the seed's output


def test_each_over_objects_fields_and_keys():
    items = [{"name": "n1"}, {"name": "n2"}]
    assert render_string("{{#each items}}{{this.name}};{{/each}}", {"items": items}) == "n1;n2;"
    assert render_string("{{#each items}}{{name}};{{/each}}", {"items": items}) == "n1;n2;"
    assert render_string("{{#each obj}}{{@key}}={{this}};{{/each}}", {"obj": {"a": 1, "b": 2}}) == "a=1;b=2;"
    tpl = "{{#each xs}}{{@index}}:{{this}}{{#if @first}}<{{/if}}{{#if @last}}>{{/if}} {{/each}}"
    assert render_string(tpl, {"xs": ["a", "b", "c"]}) == "0:a< 1:b 2:c> "


WITH = """{{#with user}}
  <p>Name: {{name}}</p>
  <p>Email: {{email}}</p>
{{/with}}"""
WITH_ELSE = """{{#with user}}
  <p>Name: {{name}}</p>
  <p>Email: {{email}}</p>
{{else}}
  <p>No user found</p>
{{/with}}"""


def test_with_example_and_else():
    user = {"name": "Jane Doe", "email": "jane.doe@example.com"}
    assert render_string(WITH, {"user": user}) == (
        "  <p>Name: Jane Doe</p>\n  <p>Email: jane.doe@example.com</p>\n")
    assert collapse(render_string(WITH_ELSE, {"user": None})) == "<p>No user found</p>"
    short = "{{#with user}}<p>Name: {{name}}</p>{{else}}<p>No user found</p>{{/with}}"
    assert render_string(short, {"user": None}) == "<p>No user found</p>"
    assert render_string(short, {"user": {}}) == "<p>No user found</p>"
    assert render_string(short, {"user": {"name": "Jane Doe"}}) == "<p>Name: Jane Doe</p>"


ORDER = """<html>
  <body>
    <h1>Order Confirmation</h1>
    <p>Hello {{customer.name}},</p>
    <p>Thank you for your order! Your order number is {{order.number}}.</p>
    <p>Your order details are:</p>
    <table>
      <thead>
        <tr>
          <th>Product</th>
          <th>Quantity</th>
          <th>Price</th>
        </tr>
      </thead>
      <tbody>
        {{#each order.items}}
        <tr>
          <td>{{name}}</td>
          <td>{{quantity}}</td>
          <td>${{price}}</td>
        </tr>
        {{/each}}
      </tbody>
    </table>
    <p>Shipping to:</p>
    <address>
      {{#with customer.address}}
        {{#if company}}
          {{company}}<br>
        {{/if}}
        {{firstName}} {{lastName}}<br>
        {{street}}<br>
        {{city}}, {{state}} {{zip}}<br>
        {{country}}
      {{/with}}
    </address>
    <p>Your order will be shipped {{#unless order.isRush}}within 3-5 business days{{else}}within 24 hours{{/unless}}.</p>
    <p>Total: ${{order.total}}</p>
    <p>Thank you for shopping with us!</p>
  </body>
</html>"""
ORDER_OUTPUT = """<html>
  <body>
    <h1>Order Confirmation</h1>
    <p>Hello John Smith,</p>
    <p>Thank you for your order! Your order number is 123456.</p>
    <p>Your order details are:</p>
    <table>
      <thead>
        <tr>
          <th>Product</th>
          <th>Quantity</th>
          <th>Price</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <td>Product 1</td>
          <td>1</td>
          <td>$10</td>
        </tr>
        <tr>
          <td>Product 2</td>
          <td>2</td>
          <td>$20</td>
        </tr>
      </tbody>
    </table>
    <p>Shipping to:</p>
    <address>
      My company<br>
      John Smith<br>
      123 Main St<br>
      Anytown, State ZIP<br>
      USA
    </address>
    <p>Your order will be shipped within 24 hours.</p>
    <p>Total: $50</p>
    <p>Thank you for shopping with us!</p>
  </body>
</html>"""


def order_data(**order_changes):
    data = {
        "customer": {"name": "John Smith", "address": {
            "company": "My company", "firstName": "John", "lastName": "Smith", "street": "123 Main St",
            "city": "Anytown", "state": "State", "zip": "ZIP", "country": "USA"}},
        "order": {"number": "123456", "items": [
            {"name": "Product 1", "quantity": "1", "price": "10"},
            {"name": "Product 2", "quantity": "2", "price": "20"}], "isRush": True, "total": 50},
    }
    data["order"].update(order_changes)
    return data


def test_order_confirmation_example():
    out = render_string(ORDER, order_data())
    assert collapse(out) == collapse(ORDER_OUTPUT)
    # the table rows are exactly the seed's (each keeps its lines and indentation)
    assert "      <tbody>\n        <tr>\n          <td>Product 1</td>" in out


def test_order_confirmation_variants():
    assert "shipped within 3-5 business days." in render_string(ORDER, order_data(isRush=False))
    data = order_data()
    del data["customer"]["address"]["company"]
    out = render_string(ORDER, data)
    assert "My company" not in out and collapse(out).count("<br>") == 3


def test_subject_escaping_pitfall():
    company = {"company_name": "Tom & Jerry"}
    assert render_string("Welcome to {{company_name}}!", company) == "Welcome to Tom &amp; Jerry!"
    assert render_string("Welcome to {{{company_name}}}!", company) == "Welcome to Tom & Jerry!"


def test_migration_conversions():
    sendgrid = "<p>Hello {{#if firstName}}{{firstName}}{{else}}Customer{{/if}},</p>"
    assert render_string(sendgrid, {}) == "<p>Hello Customer,</p>"
    assert render_string(sendgrid, {"firstName": "Ann"}) == "<p>Hello Ann,</p>"
    postmark = "{{#if name}}\n  <p>Hello {{name}},</p>\n{{else}}\n  <p>Hello there,</p>\n{{/if}}"
    assert render_string(postmark, {}) == "  <p>Hello there,</p>\n"
    assert render_string(postmark, {"name": "Bo"}) == "  <p>Hello Bo,</p>\n"
    brevo = ("{{#if hasOrder}}\n  <p>Hi {{#if name}}{{name}}{{else}}there{{/if}},</p>\n  <p>Your order details:</p>\n"
             "  {{#each items}}\n    <p>{{this.name}} - {{this.price}}</p>\n  {{/each}}\n{{/if}}")
    items = [{"name": "Pen", "price": 2}, {"name": "Ink", "price": 3.5}]
    out = render_string(brevo, {"hasOrder": True, "items": items})
    assert out == "  <p>Hi there,</p>\n  <p>Your order details:</p>\n    <p>Pen - 2</p>\n    <p>Ink - 3.5</p>\n"
    assert render_string(brevo, {"hasOrder": False}) == ""


# ------------------------------------------------------------------ semantics

FALSY = ["", 0, 0.0, None, False, {}, []]
TRUTHY = ["0", "false", [0], {"a": 1}, " ", 1, True, -1, 0.5]


@pytest.mark.parametrize("value", FALSY)
def test_falsy_values(value):
    assert render_string("{{#if v}}Y{{else}}N{{/if}}", {"v": value}) == "N"
    assert render_string("{{#unless v}}Y{{else}}N{{/unless}}", {"v": value}) == "Y"
    assert render_string("{{#with v}}Y{{else}}N{{/with}}", {"v": value}) == "N"


@pytest.mark.parametrize("value", TRUTHY)
def test_truthy_values(value):
    assert render_string("{{#if v}}Y{{else}}N{{/if}}", {"v": value}) == "Y"
    assert render_string("{{#unless v}}Y{{else}}N{{/unless}}", {"v": value}) == "N"


def test_absent_value_is_falsy():
    assert render_string("{{#if v}}Y{{else}}N{{/if}}", {}) == "N"


def test_scalar_output():
    assert render_string("{{total}}", {"total": 50}) == "50"
    assert render_string("{{total}}", {"total": 10.0}) == "10"  # JSON has no int/float difference
    assert render_string("{{total}}", {"total": 10.25}) == "10.25"
    assert render_string("{{flag}}|{{off}}", {"flag": True, "off": False}) == "true|false"
    assert render_string("[{{n}}]", {"n": None}) == "[]"
    assert render_string("{{xs}}", {"xs": [1, "a", True]}) == "1,a,true"


def test_else_if_chains():
    tpl = "{{#if a}}A{{else if b}}B{{else unless c}}notC{{else}}C{{/if}}"
    assert render_string(tpl, {"a": 1}) == "A"
    assert render_string(tpl, {"b": 1}) == "B"
    assert render_string(tpl, {}) == "notC"
    assert render_string(tpl, {"c": 1}) == "C"
    multiline = "{{#if a}}\n  A\n{{else if b}}\n  B\n{{/if}}\nend"
    assert render_string(multiline, {"b": 1}) == "  B\nend"


def test_parent_and_root_access():
    data = {"user": {"name": "Ann"}, "brand": "Acme", "xs": [1, 2]}
    assert render_string("{{#with user}}{{name}}@{{../brand}}{{/with}}", data) == "Ann@Acme"
    assert render_string("{{#each xs}}{{this}}{{../brand}}{{@root.brand}} {{/each}}", data) == "1AcmeAcme 2AcmeAcme "


def test_key_with_spaces_by_segment_literal():
    assert render_string("{{[business name]}}", {"business name": "Acme"}) == "Acme"


def test_whitespace_control_and_comments():
    assert render_string("a  {{~x~}}  \n b", {"x": 1}) == "a1b"
    assert render_string("{{! note }}x{{!-- has }} inside --}}y", {}) == "xy"
    assert render_string("a\n{{!-- standalone --}}\nb", {}) == "a\nb"
    assert render_string(r"\{{literal}} {{x}}", {"x": 1}) == "{{literal}} 1"


def test_lookups_read_data_not_python_attributes():
    data = {"s": "text", "d": {}}
    assert render_string("[{{s.upper}}][{{d.__class__}}][{{__class__}}][{{d.keys}}]", data) == "[][][][]"
    assert render_string("{{s.length}} {{xs.length}}", {"s": "abc", "xs": [1, 2]}) == "3 2"
    # names of pybars' own helpers are plain variables here
    assert render_string("{{lookup}} {{log}}", {"lookup": "L", "log": "G"}) == "L G"


def test_bare_pybars3_gaps_the_engine_closes():
    """Each line: what bare pybars3 does with the guide's example, then what Postline does."""
    bare = Compiler()
    unless = "{{#unless x}}A{{else}}B{{/unless}}"
    assert bare.compile(unless)({"x": True}) == ""
    assert render_string(unless, {"x": True}) == "B"
    with_else = "{{#with user}}{{name}}{{else}}No user found{{/with}}"
    assert bare.compile(with_else)({"user": None}) == ""
    assert render_string(with_else, {"user": None}) == "No user found"
    assert bare.compile("{{#if a}}x")({"a": True}) == ""  # silently empty
    with pytest.raises(TemplateError):
        render_string("{{#if a}}x", {"a": True})
    assert bare.compile("{{#greaterThan a b}}x{{/greaterThan}}")({"a": 2, "b": 1}) == ""
    with pytest.raises(TemplateError):
        render_string("{{#greaterThan a b}}x{{/greaterThan}}", {"a": 2, "b": 1})
    assert bare.compile(EACH)({"user": {"items": ["1", "2"]}}) == "  <p>Item: 1</p>  <p>Item: 2</p>"
    assert render_string(EACH, {"user": {"items": ["1", "2"]}}) == "  <p>Item: 1</p>\n  <p>Item: 2</p>\n"


# ------------------------------------------------------------------ rejected templates

REJECTED = [
    ("{{#if a}}x", "{{#if a}} opened at line 1, column 1 is never closed with {{/if}}"),
    ("<p>\n  {{#each items}}{{name}}", "{{#each items}} opened at line 2, column 3 is never closed"),
    ("{{#if a}}x{{/each}}", "{{/each}} (line 1, column 11) doesn't match {{#if a}} opened at line 1, column 1"),
    ("x{{/if}}", "{{/if}} has no matching opening block (line 1, column 2)"),
    ("a {{else}} b", "{{else}} outside of a block"),
    ("{{#if a}}1{{else}}2{{else}}3{{/if}}", "after {{else}}"),
    ('{{formatDate d "MMMM DD, YYYY"}}', "unsupported helper 'formatDate'"),
    ("{{#greaterThan a 100}}x{{/greaterThan}}", "unsupported helper 'greaterThan'"),
    ("{{#lessThan a b}}x{{/lessThan}}", "unsupported helper 'lessThan'"),
    ("{{#notEquals a b}}x{{/notEquals}}", "unsupported helper 'notEquals'"),
    ("{{#and a b}}x{{/and}}", "unsupported helper 'and'"),
    ("{{#or a b}}x{{/or}}", "unsupported helper 'or'"),
    ("{{length items}}", "unsupported helper 'length'"),
    ('{{insert name "default=Customer"}}', "unsupported helper 'insert'"),
    ("{{lookup a b}}", "unsupported helper 'lookup'"),
    ("{{business name}}", "a key with spaces is written {{[business name]}}"),
    ("{{#name}}x{{/name}}", "Mustache sections are not supported, write {{#if name}}"),
    ("{{^name}}x{{/name}}", "inverted sections are not supported, write {{#unless name}}"),
    ("{{&name}}", "is not supported, write {{{name}}}"),
    ("{{> header}}", "partials are not supported"),
    ("{{{{raw}}}}x{{{{/raw}}}}", "raw blocks"),
    ("{{#each items as |item|}}{{item}}{{/each}}", "block parameters"),
    ("{{#each items key=1}}x{{/each}}", "hash arguments"),
    ("{{#if (gt a 1)}}x{{/if}}", "must be a variable"),
    ('{{#if "yes"}}x{{/if}}', "must be a variable"),
    ("{{#if}}x{{/if}}", "#if takes exactly one argument"),
    ("{{#if a b}}x{{/if}}", "#if takes exactly one argument"),
    ("{{if}}", "'if' is a block helper"),
    ("{{@foo}}", "unknown data variable '@foo'"),
    ("{{}}", "empty expression"),
    ("a {{b", "'{{' is never closed with '}}' (line 1, column 3)"),
    ("{{{b}}", "'{{{' is never closed"),
    ("{{!-- open comment", "never closed"),
    ("{{#if a}}x{{else each b}}y{{/if}}", "only {{else if ...}} and {{else unless ...}}"),
    ("{{x.[a' + str(6*7) + 'b]}}", "can't be empty or contain quotes"),
    ("{{a$b}}", "is not a valid expression"),
    ("{{#if a}}" * 33 + "x" + "{{/if}}" * 33, "nested more than 32 deep"),
    ("{{x}}" * 3001, "has more than 3000 Handlebars expressions"),
]


@pytest.mark.parametrize("source,message", REJECTED)
def test_invalid_templates_are_rejected_with_a_message(source, message):
    with pytest.raises(TemplateError) as err:
        engine.check(source, "body_html")
    assert err.value.status == 422
    [text] = err.value.errors["body_html"]
    assert message in text


def test_html_itself_is_not_validated():
    engine.check("<div><p>unclosed html", "body_html")
    assert render_string("<div><p>{{x}}", {"x": 1}) == "<div><p>1"


def test_variables_must_be_an_object():
    with pytest.raises(TemplateError) as err:
        render_string("{{x}}", ["not", "an", "object"])
    assert "template_variables" in err.value.errors


# ------------------------------------------------------------------ cache


def test_compiled_templates_are_cached_by_content_and_bounded(monkeypatch):
    engine.clear_cache()
    first = engine.compile_template("Hi {{name}}")
    assert engine.compile_template("Hi " + "{{name}}") is first  # equal content, another str object
    assert engine.compile_template("Hi {{name}}!") is not first
    monkeypatch.setattr(engine, "CACHE_SIZE", 3)
    for i in range(5):
        engine.compile_template(f"t{i} {{{{x}}}}")
    assert engine.cache_info()["size"] == 3
    assert engine.compile_template("Hi {{name}}") is not first  # evicted, compiled again


# ------------------------------------------------------------------ test data (editor)


def test_sample_variables_for_the_test_data_tab():
    data = syntax.sample_variables("Hi {{user_name}} {{#each items}}{{name}}{{/each}}")
    assert data == {"user_name": "Test_user_name", "items": [{"name": "Test_name"}]}
    body = "{{#each tags}}{{this}}{{/each}}{{#with user}}{{address.city}}{{else}}{{guest}}{{/with}}"
    data = syntax.sample_variables("Welcome to {{company_name}}!", body)
    assert data == {"company_name": "Test_company_name", "tags": ["Test_tags"],
                    "user": {"address": {"city": "Test_city"}}, "guest": "Test_guest"}
    source = "Hi {{user_name}} {{#each items}}<{{name}}>{{/each}}"
    assert render_string(source, syntax.sample_variables(source)) == "Hi Test_user_name <Test_name>"


def test_literal_text_comes_back_byte_for_byte():
    # the engine hands pybars only the tags; the text is put back into the generated code
    tricky = "quotes ' \" ''' \"\"\" backslash \\ \\n tab\t unicode é 漢字 \ue000 0 \ue001 } { end"
    big = tricky + ("<p>" + "lorem ipsum " * 50 + "</p>\n") * 2000
    source = big + "{{x}}" + big + "{{#if x}}" + tricky + "{{/if}}"
    assert render_string(source, {"x": "X"}) == big + "X" + big + tricky
