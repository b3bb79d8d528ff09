-- Run once by the postgres image, when its data volume is empty (docker-entrypoint-initdb.d).
-- One database per service, each owned by the service's own role: no service reads another's tables.
-- Local use only: the server trusts every connection from the Compose network (no passwords), and its
-- port is not published on the host. Kubernetes uses CloudNativePG with a password per role instead.
CREATE ROLE orders LOGIN;
CREATE DATABASE orders OWNER orders;
CREATE ROLE payments LOGIN;
CREATE DATABASE payments OWNER payments;
CREATE ROLE notifications LOGIN;
CREATE DATABASE notifications OWNER notifications;
CREATE ROLE gateway LOGIN;
CREATE DATABASE gateway OWNER gateway;
