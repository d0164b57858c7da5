from django.http import HttpRequest, HttpResponse


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("plain")


def item(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(str(pk))
