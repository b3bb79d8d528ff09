"""deployments/k8s: both overlays rendered with `kubectl kustomize`, validated against the Kubernetes
schemas (strict), and checked against the code they deploy: probes, settings, names, security,
scaling, NetworkPolicies, and the RabbitMQ and PostgreSQL custom resources."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from deploy_checks import (
    K8S,
    KUBERNETES_VERSIONS,
    OVERLAYS,
    RenderError,
    connection_budget_problems,
    container_env,
    custom_resource_problems,
    env_problems,
    external_references,
    kubernetes_schema_problems,
    lifecycle_problems,
    main_container,
    named,
    network_problems,
    objects,
    pod_spec,
    probe_problems,
    reference_problems,
    render_overlay,
    security_problems,
    split_address,
    the,
)

Objects = list[dict[str, Any]]
# What whoever deploys prod creates (docs/deploy.md); dev generates everything.
EXPECTED_EXTERNAL = {
    "dev": set(),
    "prod": {
        ("Secret", "ecommerce-orders-db"),
        ("Secret", "ecommerce-payments-db"),
        ("Secret", "ecommerce-notifications-db"),
        ("Secret", "ecommerce-gateway-db"),
        ("Secret", "ecommerce-gateway"),
        ("ConfigMap", "ecommerce-smtp"),
    },
}


def smtp_target(objs: Sequence[dict[str, Any]]) -> tuple[str, int] | None:
    """The in-cluster mail server notifications is configured for (its Deployment's name and the port),
    or None when the server is outside (the prod ConfigMap is not rendered)."""
    env = container_env(main_container(the(objs, "Deployment", "notifications")), objs)
    host = env.get("NOTIFICATIONS_SMTP_HOST", "")
    if host.startswith("<configmap:"):
        return None
    service = the(objs, "Service", host)
    port = int(env["NOTIFICATIONS_SMTP_PORT"])
    assert port in [p["port"] for p in service["spec"]["ports"]], f"Service/{host} has no port {port}"
    deployments = [
        d
        for d in named(objs, "Deployment")
        if d["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    ]
    return deployments[0]["metadata"]["name"], port


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes(overlay: str, version: str) -> None:
    objs = objects(overlay)
    assert len(objs) > 30
    assert kubernetes_schema_problems(objs, version) == []


def _deployment(objs: Objects, name: str) -> dict[str, Any]:
    return the(objs, "Deployment", name)


def _container(objs: Objects, name: str) -> dict[str, Any]:
    return next(c for c in pod_spec(_deployment(objs, name))["containers"] if c["name"] == name)


def _config(objs: Objects) -> dict[str, Any]:
    return next(c for c in named(objs, "ConfigMap") if c["metadata"]["name"].startswith("ecommerce-config"))


SCHEMA_BREAKS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "unknown container field": (
        lambda objs: _container(objs, "orders").update(bogus=True),
        "Additional properties are not allowed ('bogus' was unexpected)",
    ),
    "named port in a gRPC probe": (
        lambda objs: _container(objs, "orders")["readinessProbe"]["grpc"].update(port="grpc"),
        "'grpc' is not of type 'integer'",
    ),
    "misspelt RabbitmqCluster field": (
        lambda objs: the(objs, "RabbitmqCluster", "ecommerce-rabbitmq")["spec"].update(replica=3),
        "Additional properties are not allowed ('replica' was unexpected)",
    ),
    "database without owner": (
        lambda objs: the(objs, "Database", "ecommerce-orders")["spec"].pop("owner"),
        "'owner' is a required property",
    ),
    "reserved database name": (
        lambda objs: the(objs, "Database", "ecommerce-orders")["spec"].update(name="postgres"),
        "should not be valid",
    ),
    "unknown kind": (
        lambda objs: objs.append(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
        ),
        "is no Kubernetes 1.30.0 kind and no known CR",
    ),
}


@pytest.mark.parametrize(("change", "problem"), SCHEMA_BREAKS.values(), ids=SCHEMA_BREAKS.keys())
def test_the_schema_check_rejects_invalid_objects(change: Callable[[Objects], None], problem: str) -> None:
    objs = objects("prod")
    change(objs)
    problems = kubernetes_schema_problems(objs, "1.30.0")
    assert any(problem in p for p in problems), problems


def test_the_dev_overlay_refuses_to_render_without_its_secrets() -> None:
    with pytest.raises(RenderError, match=r"secrets/orders-db\.env"):
        render_overlay("dev", K8S, make_secrets=False)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_ask_what_the_services_serve(overlay: str) -> None:
    assert probe_problems(objects(overlay)) == []


def _bind_elsewhere(objs: Objects) -> None:
    _config(objs)["data"]["ORDERS_GRPC_BIND"] = "0.0.0.0:50059"


def _unset_bind(objs: Objects) -> None:
    del _config(objs)["data"]["PAYMENTS_GRPC_BIND"]


PROBE_BREAKS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "the service binds another port": (
        _bind_elsewhere,
        "orders: containerPort [50051] but the service binds 50059",
    ),
    "the bind is not set": (
        _unset_bind,
        "payments: PAYMENTS_GRPC_BIND unset: the service binds 127.0.0.1:50052",
    ),
    "readiness asks the servicer": (
        lambda objs: _container(objs, "notifications")["readinessProbe"]["grpc"].update(
            service="ecommerce.notifications.v1.NotificationService"
        ),
        "readinessProbe asks for 'ecommerce.notifications.v1.NotificationService', expected ''",
    ),
    "liveness asks the whole server": (
        lambda objs: _container(objs, "orders")["livenessProbe"]["grpc"].update(service=""),
        "orders: livenessProbe asks for '', expected 'ecommerce.orders.v1.OrderService'",
    ),
    "gateway path not in the spec": (
        lambda objs: _container(objs, "gateway")["readinessProbe"]["httpGet"].update(path="/readyz"),
        "gateway: readinessProbe GETs /readyz, expected /v1/readyz of the spec",
    ),
    "probe on another port": (
        lambda objs: _container(objs, "payments")["startupProbe"]["grpc"].update(port=50051),
        "payments: startupProbe probes port 50051, the service binds 50052",
    ),
    "Service targets another port": (
        lambda objs: the(objs, "Service", "gateway")["spec"]["ports"][0].update(targetPort=8080),
        "Service/gateway: targetPort 8080 is not the container's 8000",
    ),
}


@pytest.mark.parametrize(("change", "problem"), PROBE_BREAKS.values(), ids=PROBE_BREAKS.keys())
def test_the_probe_check_rejects_probes_that_miss(change: Callable[[Objects], None], problem: str) -> None:
    objs = objects("dev")
    change(objs)
    problems = probe_problems(objs)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_is_a_setting_and_none_points_at_the_pod(overlay: str) -> None:
    assert env_problems(objects(overlay)) == []


def _drop_env(objs: Objects, deployment: str, name: str) -> None:
    for container in [
        *pod_spec(_deployment(objs, deployment))["initContainers"],
        _container(objs, deployment),
    ]:
        container["env"] = [v for v in container["env"] if v["name"] != name]


ENV_BREAKS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "a misspelt setting": (
        lambda objs: _container(objs, "orders")["env"].append(
            {"name": "ORDERS_CONSUMER_PREFECH", "value": "5"}
        ),
        "orders: ORDERS_CONSUMER_PREFECH is neither a setting nor used by one",
    ),
    "an undocumented ConfigMap key": (
        lambda objs: _config(objs)["data"].update(ORDERS_TURBO="1"),
        "ORDERS_TURBO is not in .env.example",
    ),
    "no database URL": (
        lambda objs: _drop_env(objs, "payments", "PAYMENTS_DATABASE_URL"),
        "payments: PAYMENTS_DATABASE_URL unset",
    ),
    "no broker URL": (lambda objs: _drop_env(objs, "orders", "AMQP_URL"), "orders: AMQP_URL unset"),
    "gateway dials its own pod": (
        lambda objs: _config(objs)["data"].update(GATEWAY_ORDERS_ADDR="localhost:50051"),
        "gateway: GATEWAY_ORDERS_ADDR=localhost:50051 points at the pod itself",
    ),
    "init container without the secret": (
        lambda objs: pod_spec(_deployment(objs, "gateway"))["initContainers"][0]["env"].pop(),
        "gateway: the init container gets other settings than the service",
    ),
    "init container not migrating": (
        lambda objs: pod_spec(_deployment(objs, "orders"))["initContainers"][0].update(args=["serve"]),
        "orders: the init container does not run `migrate`",
    ),
}


@pytest.mark.parametrize(("change", "problem"), ENV_BREAKS.values(), ids=ENV_BREAKS.keys())
def test_the_settings_check_rejects_wrong_variables(change: Callable[[Objects], None], problem: str) -> None:
    objs = objects("dev")
    change(objs)
    problems = env_problems(objs)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_names_agree_and_what_must_be_created_is_documented(overlay: str) -> None:
    objs = objects(overlay)
    assert external_references(objs) == EXPECTED_EXTERNAL[overlay]
    assert reference_problems(objs, EXPECTED_EXTERNAL[overlay]) == []


def _rename_gateway_target(objs: Objects) -> None:
    _config(objs)["data"]["GATEWAY_PAYMENTS_ADDR"] = "payment:50052"


def _move_orders_service_port(objs: Objects) -> None:
    """Fine through a virtual IP, which maps port to targetPort; a headless Service maps nothing."""
    the(objs, "Service", "orders")["spec"]["ports"][0]["port"] = 50061
    _config(objs)["data"]["GATEWAY_ORDERS_ADDR"] = "orders:50061"


REFERENCE_BREAKS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "gateway dials a Service that does not exist": (
        _rename_gateway_target,
        "gateway: GATEWAY_PAYMENTS_ADDR=payment:50052 is not the Service of payments",
    ),
    "a Secret key that is not there": (
        lambda objs: _container(objs, "gateway")["env"][-3]["valueFrom"]["secretKeyRef"].update(key="jwt"),
        "gateway: Secret/ecommerce-gateway has no key jwt",
    ),
    "a Secret nobody makes": (
        lambda objs: _container(objs, "orders")["env"][0]["valueFrom"]["secretKeyRef"].update(
            name="orders-db"
        ),
        "Secret/orders-db is read but not created",
    ),
    "a database nobody declares": (
        lambda objs: the(objs, "Database", "ecommerce-payments")["spec"].update(name="payment"),
        "payments: database payments is not declared",
    ),
    "the role logs in with another Secret": (
        lambda objs: the(objs, "Cluster", "ecommerce-pg")["spec"]["managed"]["roles"][0][
            "passwordSecret"
        ].update(name="ecommerce-payments-db"),
        "orders: the owner of orders does not log in with Secret/ecommerce-orders-db",
    ),
    "a disruption budget selecting nothing": (
        lambda objs: the(objs, "PodDisruptionBudget", "notifications")["spec"]["selector"][
            "matchLabels"
        ].update({"app.kubernetes.io/name": "notification"}),
        "Deployment/notifications: 0 PodDisruptionBudgets",
    ),
    "replicas fighting the HPA": (
        lambda objs: _deployment(objs, "gateway")["spec"].update(replicas=2),
        "Deployment/gateway: sets replicas, which fights its HorizontalPodAutoscaler",
    ),
    "a backend Service with a virtual IP": (
        lambda objs: the(objs, "Service", "payments")["spec"].pop("clusterIP"),
        "gateway: Service/payments is not headless (clusterIP: None)",
    ),
    "a headless Service on another port than the pods'": (
        _move_orders_service_port,
        "gateway: GATEWAY_ORDERS_ADDR dials port 50061, the orders pods listen on [50051]",
    ),
    "a Service selecting other pods": (
        lambda objs: the(objs, "Service", "orders")["spec"].update(
            selector={"app.kubernetes.io/name": "payments"}
        ),
        "Service/orders: its selector is not the Deployment's",
    ),
}


@pytest.mark.parametrize(("change", "problem"), REFERENCE_BREAKS.values(), ids=REFERENCE_BREAKS.keys())
def test_the_reference_check_rejects_names_that_disagree(
    change: Callable[[Objects], None], problem: str
) -> None:
    objs = objects("dev")
    change(objs)
    problems = reference_problems(objs, EXPECTED_EXTERNAL["dev"])
    assert any(problem in p for p in problems), problems


def test_an_undocumented_secret_is_reported() -> None:
    objs = objects("prod")
    _container(objs, "orders")["env"].append(
        {
            "name": "ORDERS_CATALOG_FILE",
            "valueFrom": {"secretKeyRef": {"name": "ecommerce-undocumented", "key": "k"}},
        }
    )
    expected = EXPECTED_EXTERNAL["prod"] | {("Secret", "ecommerce-undocumented")}
    assert reference_problems(objs, expected) == [
        "Secret/ecommerce-undocumented is not documented in docs/deploy.md"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_run_locked_down(overlay: str) -> None:
    assert security_problems(objects(overlay)) == []


SECURITY_BREAKS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "writable root": (
        lambda objs: _container(objs, "orders")["securityContext"].update(readOnlyRootFilesystem=False),
        "orders/orders: the root filesystem is writable",
    ),
    "root user": (
        lambda objs: pod_spec(_deployment(objs, "gateway"))["securityContext"].update(runAsUser=0),
        "gateway: runAsUser 0 is not the image's 10001",
    ),
    "capabilities kept": (
        lambda objs: pod_spec(_deployment(objs, "payments"))["initContainers"][0]["securityContext"].pop(
            "capabilities"
        ),
        "payments/migrate: capabilities are not all dropped",
    ),
    "no memory limit": (
        lambda objs: _container(objs, "notifications")["resources"]["limits"].pop("memory"),
        "notifications/notifications: no limits.memory",
    ),
    "no writable /tmp": (
        lambda objs: _container(objs, "orders").update(volumeMounts=[]),
        "orders/orders: /tmp is not a writable emptyDir",
    ),
    "service links": (
        lambda objs: pod_spec(_deployment(objs, "orders")).pop("enableServiceLinks"),
        "orders: service links put <SERVICE>_PORT variables in the environment",
    ),
}


@pytest.mark.parametrize(("change", "problem"), SECURITY_BREAKS.values(), ids=SECURITY_BREAKS.keys())
def test_the_security_check_rejects_loosened_pods(change: Callable[[Objects], None], problem: str) -> None:
    objs = objects("dev")
    change(objs)
    problems = security_problems(objs)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_stopping_pod_gets_its_graceful_stop(overlay: str) -> None:
    assert lifecycle_problems(objects(overlay)) == []


def test_the_grace_check_counts_the_service_grace() -> None:
    objs = objects("prod")
    _config(objs)["data"]["ORDERS_SHUTDOWN_GRACE_SECONDS"] = "60"
    assert lifecycle_problems(objs) == [
        "orders: terminationGracePeriodSeconds 30 < preStop 5.0 + grace 60.0 + 5"
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_database_has_connections_for_every_replica(overlay: str) -> None:
    assert connection_budget_problems(objects(overlay)) == []


def test_the_connection_budget_check_rejects_a_small_database() -> None:
    objs = objects("prod")
    the(objs, "HorizontalPodAutoscaler", "orders")["spec"]["maxReplicas"] = 30
    problems = connection_budget_problems(objs)
    assert len(problems) == 1
    assert problems[0].startswith("Cluster/ecommerce-pg: max_connections 500 <")


def test_the_connection_budget_counts_the_pool_each_service_is_configured_with() -> None:
    objs = objects("prod")
    assert connection_budget_problems(objs) == []
    _config(objs)["data"]["GATEWAY_DATABASE_POOL_SIZE"] = "20"  # 7 gateway pods x (20 + 10)
    assert connection_budget_problems(objs) == ["Cluster/ecommerce-pg: max_connections 500 < 515 (26 pods)"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_allow_exactly_the_designed_paths(overlay: str) -> None:
    objs = objects(overlay)
    target = smtp_target(objs)
    assert (target is None) == (overlay == "prod")
    assert network_problems(objs, target) == []


def _policy(objs: Objects, name: str) -> dict[str, Any]:
    return the(objs, "NetworkPolicy", name)


def _gateway_on_the_broker(objs: Objects) -> None:
    """Both ends must open: the gateway's egress and the broker's ingress."""
    broker = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ecommerce-rabbitmq"}}}
    _policy(objs, "gateway")["spec"]["egress"].append({"to": [broker]})
    gateway = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}
    _policy(objs, "ecommerce-rabbitmq")["spec"]["ingress"][0]["from"].append(gateway)


NETWORK_BREAKS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "orders open to everyone": (
        lambda objs: _policy(objs, "orders")["spec"]["ingress"][0].pop("from"),
        "internet -> orders:50051 is allowed",
    ),
    "no default deny": (
        lambda objs: objs.remove(_policy(objs, "ecommerce-default-deny")),
        "orders: no default-deny policy selects it",
    ),
    "gateway on the broker": (_gateway_on_the_broker, "gateway -> rabbitmq:5672 is allowed"),
    "broker open to the namespace": (
        lambda objs: _policy(objs, "ecommerce-rabbitmq")["spec"]["ingress"][0].pop("from"),
        "other-pod -> rabbitmq:5672 is allowed",
    ),
    "database open to the namespace": (
        lambda objs: _policy(objs, "ecommerce-pg")["spec"]["ingress"][0].pop("from"),
        "other-pod -> postgres:5432 is allowed",
    ),
    "no DNS": (lambda objs: objs.remove(_policy(objs, "ecommerce-dns")), "orders -> kube-dns:53 is blocked"),
    "no mail out": (
        lambda objs: _policy(objs, "notifications")["spec"]["egress"].pop(),
        "notifications -> mailpit:1025 is blocked",
    ),
    "gateway cannot reach payments": (
        lambda objs: _policy(objs, "payments")["spec"]["ingress"][0]["from"][0]["podSelector"][
            "matchLabels"
        ].update({"app.kubernetes.io/name": "orders"}),
        "gateway -> payments:50052 is blocked",
    ),
}


@pytest.mark.parametrize(("change", "problem"), NETWORK_BREAKS.values(), ids=NETWORK_BREAKS.keys())
def test_the_network_check_rejects_wrong_paths(change: Callable[[Objects], None], problem: str) -> None:
    objs = objects("dev")
    change(objs)
    problems = network_problems(objs, ("mailpit", 1025))
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_broker_and_the_database_are_what_the_services_need(overlay: str) -> None:
    assert custom_resource_problems(objects(overlay), production=overlay == "prod") == []


CR_BREAKS: dict[str, tuple[Callable[[Objects], None], str]] = {
    "two RabbitMQ nodes": (
        lambda objs: the(objs, "RabbitmqCluster", "ecommerce-rabbitmq")["spec"].update(replicas=2),
        "RabbitmqCluster: 2 nodes; quorum queues want 3",
    ),
    "RabbitMQ pods under the service's default deny": (
        lambda objs: the(objs, "RabbitmqCluster", "ecommerce-rabbitmq")["metadata"].update(
            labels={"app.kubernetes.io/part-of": "ecommerce"}
        ),
        "RabbitmqCluster: its labels (copied to its pods) put the nodes under the default deny",
    ),
    "one PostgreSQL instance": (
        lambda objs: the(objs, "Cluster", "ecommerce-pg")["spec"].update(instances=1),
        "Cluster: 1 instances; production wants 3",
    ),
    "a database short": (
        lambda objs: objs.remove(the(objs, "Database", "ecommerce-gateway")),
        "are not one per service",
    ),
}


@pytest.mark.parametrize(("change", "problem"), CR_BREAKS.values(), ids=CR_BREAKS.keys())
def test_the_custom_resource_check_rejects_a_weak_setup(
    change: Callable[[Objects], None], problem: str
) -> None:
    objs = objects("prod")
    change(objs)
    problems = custom_resource_problems(objs, production=True)
    assert any(problem in p for p in problems), problems


def test_overlays_differ_where_environments_differ() -> None:
    dev, prod = objects("dev"), objects("prod")
    assert {o["metadata"].get("namespace") for o in dev if o["kind"] != "Namespace"} == {"ecommerce-dev"}
    assert {o["metadata"].get("namespace") for o in prod if o["kind"] != "Namespace"} == {"ecommerce"}
    for name in ("orders", "payments", "notifications", "gateway"):
        dev_image = _container(dev, name)["image"]
        prod_image = _container(prod, name)["image"]
        assert dev_image == f"ecommerce/{name}:local"
        assert prod_image.rpartition(":")[2] not in {"", "latest", "local"}, prod_image
        assert the(prod, "HorizontalPodAutoscaler", name)["spec"]["minReplicas"] >= 3
    assert named(dev, "Deployment", "mailpit")
    assert not named(prod, "Deployment", "mailpit")
    assert not named(prod, "Secret"), "prod renders no Secret: nothing secret is committed"
    host, port = split_address(_config(prod)["data"]["GATEWAY_ORDERS_ADDR"])
    assert (host, port) == ("orders", 50051)
