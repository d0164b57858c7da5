"""Small views exercising what the recorder must see."""

import asyncio

from django.contrib.auth.models import User
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse


def plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("plain")


def item(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse(str(pk))


def boom(request: HttpRequest) -> HttpResponse:
    raise ValueError("boom")


def queries(request: HttpRequest, n: int) -> HttpResponse:
    """Run exactly ``n`` queries."""
    for i in range(n):
        User.objects.filter(pk=i).exists()
    return HttpResponse(str(n))


def raw(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("raw")


def status(request: HttpRequest, code: int) -> HttpResponse:
    return HttpResponse(status=code)


async def async_queries(request: HttpRequest, n: int) -> HttpResponse:
    """Run exactly ``n`` queries with the async ORM, yielding to other requests between."""
    for i in range(n):
        await User.objects.filter(pk=i).aexists()
        await asyncio.sleep(0.001)
    return JsonResponse({"n": n})


def legacy(request: HttpRequest, year: str) -> HttpResponse:
    return HttpResponse(year)
