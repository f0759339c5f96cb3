{#
    The vocabulary of the retention_policies seed (R14).
#}
{% macro retention_data_categories() -%}
    {{ return(['profile', 'events', 'devices', 'purchases', 'preferences', 'communications', 'third_party']) }}
{%- endmacro %}

{% macro deletion_strategies() -%}
    {{ return(['hard_delete', 'anonymize', 'pseudonymize', 'archive']) }}
{%- endmacro %}

{% macro retention_exceptions() -%}
    {{ return(['legal_hold', 'open_dsr']) }}
{%- endmacro %}

{#
    R14: invalid policy rows fail the build with a message naming each row
    and its problem. Runs when the model that calls it is executed, after
    the seed is loaded; a policy that cannot be read must stop retention,
    not be skipped, because a skipped policy keeps data past its legal
    limit and a misread one deletes data too early.
    Values are judged as int_retention_policies reads them: trimmed,
    lower-cased except policy_id and legal_basis.
#}
{% macro check_retention_policies(policies) -%}
    {%- if not execute or model.resource_type != 'model' -%}
        {{ return('') }}
    {%- endif -%}
    {%- set relation = load_relation(policies) -%}
    {%- if relation is none -%}
        {{ return('') }}
    {%- endif -%}

    {%- set table = run_query(
        'select policy_id, data_category, retention_days, deletion_strategy, exceptions, legal_basis, is_active from '
        ~ relation
    ) -%}
    {%- set problems = [] -%}
    {%- set seen = {} -%}

    {%- for row in table.rows -%}
        {%- set policy_id = (row['policy_id'] or '') | string | trim -%}
        {%- if policy_id == '' -%}
            {%- set name = 'the row without a policy_id (data_category ' ~ row['data_category'] ~ ', retention_days ' ~ row['retention_days'] ~ ')' -%}
            {%- do problems.append(name ~ ': policy_id is empty') -%}
        {%- else -%}
            {%- set name = "policy '" ~ policy_id ~ "'" -%}
            {%- if policy_id in seen -%}
                {%- if seen[policy_id] == 1 -%}
                    {%- do problems.append(name ~ ': policy_id appears more than once') -%}
                {%- endif -%}
                {%- do seen.update({policy_id: seen[policy_id] + 1}) -%}
            {%- else -%}
                {%- do seen.update({policy_id: 1}) -%}
            {%- endif -%}
        {%- endif -%}

        {%- set category = (row['data_category'] or '') | string | trim | lower -%}
        {%- if category not in retention_data_categories() -%}
            {%- do problems.append(name ~ ": unknown data_category '" ~ category ~ "' (expected one of " ~ retention_data_categories() | join(', ') ~ ")") -%}
        {%- endif -%}

        {%- set days = (row['retention_days'] or '') | string | trim -%}
        {%- if not modules.re.fullmatch('[0-9]+', days) or days | int <= 0 -%}
            {%- do problems.append(name ~ ": retention_days '" ~ days ~ "' is not a whole number of days > 0") -%}
        {%- endif -%}

        {%- set strategy = (row['deletion_strategy'] or '') | string | trim | lower -%}
        {%- if strategy not in deletion_strategies() -%}
            {%- do problems.append(name ~ ": unknown deletion_strategy '" ~ strategy ~ "' (expected one of " ~ deletion_strategies() | join(', ') ~ ")") -%}
        {%- endif -%}

        {%- set exceptions = (row['exceptions'] or '') | string | trim | lower -%}
        {%- if exceptions != '' -%}
            {%- for exception in exceptions.split('|') -%}
                {%- if exception | trim not in retention_exceptions() -%}
                    {%- do problems.append(name ~ ": unknown exception '" ~ exception | trim ~ "' (expected legal_hold or open_dsr, separated by |)") -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}

        {%- if (row['legal_basis'] or '') | string | trim == '' -%}
            {%- do problems.append(name ~ ': legal_basis is empty (GDPR Art. 5(2): every retention period needs its reason)') -%}
        {%- endif -%}

        {%- set active = (row['is_active'] or '') | string | trim | lower -%}
        {%- if active not in ['true', 'false'] -%}
            {%- do problems.append(name ~ ": is_active '" ~ active ~ "' is not true or false") -%}
        {%- endif -%}
    {%- endfor -%}

    {%- if problems -%}
        {{ exceptions.raise_compiler_error(
            'Invalid rows in seed retention_policies (R14); fix seeds/retention_policies.csv:\n  - '
            ~ problems | join('\n  - ')
        ) }}
    {%- endif -%}
{%- endmacro %}
