# The behaviour of a pod under kwok (see pod-behaviors.yaml): one jq expression,
# substituted for __BEHAVIOUR__ there. Comment lines are stripped before use.
(.metadata.annotations["kwok.shop/behavior"] // ([.spec.containers[].image] as $i | if any($i[]; contains("never-ready")) then "never-ready" elif any($i[]; contains("crashloop")) then "crashloop" elif any($i[]; contains("exit-1")) then "fail" else "ready" end)) as $b | if $b == "fail" and (.spec.restartPolicy // "Always") == "Always" then "crashloop" else $b end
