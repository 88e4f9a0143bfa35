"""The userpods daemon: the REST API, the pod flows, the cluster cache, naming, manifests."""
