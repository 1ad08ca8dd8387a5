/**
 * Is this text a template source that only becomes TOML once rendered (Helm/Go templates,
 * Terraform templatefile(), Jinja statements)? Such text must not be reported as broken TOML
 * (corpus: cattle-ops-*.tftpl, dod-bigbang-config.template.helm.tpl are `skip`).
 *
 * The hard part is what must NOT count: gitlab-runner itself expands `${VAR}` inside strings
 * (token/url since 18.10, pod_labels values, scripts — corpus metzenseifner-custom-nspawn.toml),
 * and `docker … --format '{{.Names}}'` inside a script string is a Go template for docker, not
 * for the config. So `${` and `{{` only count when they sit outside TOML strings and comments,
 * while Helm actions (`.Values`, `.Release`, `include`, `{{-` …) and Terraform/Jinja directives
 * count anywhere: Helm/Terraform render them before any TOML parser sees the text.
 */

const TERRAFORM_DIRECTIVE = /%\{~?\s*(?:if|else|endif|for|endfor)\b/;
const JINJA_STATEMENT =
  /\{%-?\s*(?:if|elif|else|endif|for|endfor|set|raw|include|macro|block|extends)\b/;
const HELM_ACTION =
  /\{\{-?\s*(?:\/\*|(?:if|else|end|range|with|define|template|include|block|tpl|toYaml|toToml|toJson|printf|default|quote|squote|required|lookup|indent|nindent|trim)\b|\$|\.(?:Values|Release|Chart|Capabilities|Files|Template)\b)|-\}\}/;

export function isTemplateSource(text: string): boolean {
  if (typeof text !== 'string') return false;
  try {
    if (TERRAFORM_DIRECTIVE.test(text) || JINJA_STATEMENT.test(text) || HELM_ACTION.test(text))
      return true;
    return hasInterpolationOutsideStrings(text);
  } catch {
    return false;
  }
}

const S = { Normal: 0, Basic: 1, Literal: 2, MlBasic: 3, MlLiteral: 4, Comment: 5 } as const;

/** `${` or `{{` where TOML has no string or comment to hold them. */
function hasInterpolationOutsideStrings(src: string): boolean {
  const n = src.length;
  let state: number = S.Normal;
  let i = 0;
  while (i < n) {
    const c = src[i]!;
    switch (state) {
      case S.Normal:
        if (c === '#') state = S.Comment;
        else if (c === '"') {
          if (src.startsWith('"""', i)) {
            state = S.MlBasic;
            i += 2;
          } else state = S.Basic;
        } else if (c === "'") {
          if (src.startsWith("'''", i)) {
            state = S.MlLiteral;
            i += 2;
          } else state = S.Literal;
        } else if ((c === '$' || c === '{') && src[i + 1] === '{') return true;
        break;
      case S.Basic:
        if (c === '\\') i++;
        else if (c === '"' || c === '\n') state = S.Normal;
        break;
      case S.Literal:
        if (c === "'" || c === '\n') state = S.Normal;
        break;
      case S.MlBasic:
        if (c === '\\') i++;
        else if (c === '"' && src.startsWith('"""', i)) {
          i += 2;
          while (src[i + 1] === '"') i++;
          state = S.Normal;
        }
        break;
      case S.MlLiteral:
        if (c === "'" && src.startsWith("'''", i)) {
          i += 2;
          while (src[i + 1] === "'") i++;
          state = S.Normal;
        }
        break;
      case S.Comment:
        if (c === '\n') state = S.Normal;
        break;
    }
    i++;
  }
  return false;
}
